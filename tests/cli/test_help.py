"""Every command's --help names the default of every option that takes a value."""

from __future__ import annotations

import argparse
import importlib

import pytest

from storage.cli import build_parser


def _commands() -> dict[str, str]:
    return build_parser()[1]


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_shows_its_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser, modules = build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    importlib.import_module(modules[command]).add_arguments(subparser)
    missing = []
    for action in subparser._actions:
        takes_value = action.nargs != 0 and action.option_strings and not action.required
        if not takes_value or action.help == argparse.SUPPRESS:
            continue
        text = subparser.formatter_class("inv")._get_help_string(action) or ""
        if "default" not in text:
            missing.append(action.option_strings[0])
    assert missing == [], f"inv {command}: no default shown for {missing}"
