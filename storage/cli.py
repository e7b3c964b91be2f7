"""The `inv` command line.

Each subcommand lives in its own module, imported only when that subcommand runs, so that
`inv --help` stays instant and `inv init` never imports torch. A command module provides
`add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.exc import DBAPIError

from storage.db_errors import DatabaseNotReady, describe_failure
from storage.settings import configure_logging, load_settings_or_exit

# name -> (module, one-line help). Commands whose module is not installed are not offered.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("storage.cli_init", "create the database or bring it to the newest schema"),
    "layers": ("engine.cli_layers", "list a model's hookable layers with their output shapes"),
    "precompute": ("engine.cli_precompute", "explain a folder of images and store the clusters"),
    "bot": ("bot.cli_bot", "run the Telegram bot (long polling, or a webhook)"),
    "rebuild": ("engine.cli_rebuild", "rebuild concepts and global explanations now"),
    "export": ("storage.cli_export", "write the pseudonymised research export (zip)"),
    "report": ("engine.cli_report", "write the HTML report of what the database holds"),
    "demo": ("bot.cli_demo", "run the whole loop offline on real photos and write a report"),
}


def _version() -> str:
    try:
        return version("inv")
    except PackageNotFoundError:
        return "unknown"


def _available() -> dict[str, tuple[str, str]]:
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            available[name] = (module, help_text)
    return available


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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="inv",
        description="Crowdsourced, layer-by-layer explanations of a CNN image classifier.",
    )
    parser.add_argument("--version", action="version", version=f"inv {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, str] = {}
    for name, (module, help_text) in _available().items():
        modules[name] = module
        subparsers.add_parser(
            name, help=help_text, description=help_text, formatter_class=DefaultsHelpFormatter
        )
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, modules = build_parser()
    # The top-level options take no values, so the first word that is not an option names the
    # command; its own options come from its module before anything is parsed (so that
    # `inv COMMAND --help` lists them).
    command = next((word for word in argv if not word.startswith("-")), None)
    module = None
    if command in modules:
        module = importlib.import_module(modules[command])
        subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        module.add_arguments(subparser)
    args = parser.parse_args(argv)
    if args.command is None or module is None:
        parser.print_help()
        return 0
    settings = load_settings_or_exit()
    configure_logging(settings)
    try:
        return int(module.run(args) or 0)
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
