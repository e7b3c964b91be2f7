"""Every command's --help names the default of every option that takes a value."""

from __future__ import annotations

import argparse

import pytest

from inv.cli import COMMANDS, build_parser


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_shows_its_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    missing = []
    for action in subparser._actions:
        takes_value = action.nargs != 0 and action.option_strings and not action.required
        if not takes_value or action.help == argparse.SUPPRESS:
            continue
        text = subparser.formatter_class("inv")._get_help_string(action) or ""
        if "default" not in text:
            missing.append(action.option_strings[0])
    assert missing == [], f"inv {command}: no default shown for {missing}"
