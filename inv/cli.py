"""The `inv` command line.

Each subcommand is a module of `inv.commands` providing `HELP`, `add_arguments(parser)` and
`run(args, settings) -> int`. Settings are loaded here, once, after the arguments parsed; the
database they name becomes the one library functions use when given no engine. Those modules import their heavy dependencies (torch, telegram) inside `run`,
so that `inv --help` stays instant and `inv init` never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from inv.commands import bot, demo, export, init, layers, precompute, rebuild, report, run
from inv.logs import configure_logging
from inv.settings import load_settings_or_exit

# The subcommands in the order `inv --help` lists them.
COMMANDS: dict[str, ModuleType] = {
    "init": init,
    "layers": layers,
    "precompute": precompute,
    "bot": bot,
    "rebuild": rebuild,
    "export": export,
    "report": report,
    "demo": demo,
    "run": run,
}


def _version() -> str:
    try:
        return version("inv")
    except PackageNotFoundError:
        return "unknown"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inv",
        description="Crowdsourced, layer-by-layer explanations of a CNN image classifier.",
    )
    parser.add_argument("--version", action="version", version=f"inv {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        subparser = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            formatter_class=DefaultsHelpFormatter,
        )
        module.add_arguments(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    # Imported once a command runs: `inv --help` needs none of the database code.
    from sqlalchemy.exc import DBAPIError

    from storage.db import use_database
    from storage.db_errors import DatabaseNotReady, describe_failure

    settings = load_settings_or_exit()
    configure_logging(settings)
    use_database(settings.sqlalchemy_url)
    try:
        return int(COMMANDS[args.command].run(args, settings) or 0)
    except KeyboardInterrupt:
        print("inv: interrupted", file=sys.stderr)
        return 130
    except (DatabaseNotReady, DBAPIError) as exc:
        # A database that cannot be used is the operator's to fix: one line, not a traceback.
        message = str(exc) if isinstance(exc, DatabaseNotReady) else None
        if message is None:
            message = describe_failure(exc, settings.sqlalchemy_url)
            if message is None:
                raise
        print(f"inv {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
