"""`inv rebuild`: the same function as /rebuild, with a progress bar and a one-line summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from inv.cli import main
from inv.commands import rebuild as cli_rebuild
from tests.labels.test_rebuild import dog_scenario
from tests.labels.world import World


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["rebuild", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "rebuild concepts and global explanations" in out
    assert "--full" in out and "--quiet" in out
    parser = argparse.ArgumentParser(prog="inv rebuild")
    cli_rebuild.add_arguments(parser)
    assert parser.parse_args(["--full"]).full is True


def test_unmigrated_database_is_one_clear_line(
    isolated_settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rebuild"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("inv rebuild: the database") and "run `inv init` first" in err[0]


def test_rebuild_prints_progress_and_summary(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    dog_scenario(world)
    assert main(["rebuild"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Generation 1: 1 classes rebuilt (0); 10 answers, 3 concepts")
    assert "100%" in captured.err  # the progress bar reached the end
    assert main(["rebuild", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("Nothing new to rebuild (generation 1")
    assert main(["rebuild", "--full", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("Generation 2: 1 classes rebuilt (0)")
