"""`inv report` on a database that holds nothing yet, and its argument checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inv.cli import main


def test_report_of_an_empty_database_goes_to_data_dir(
    isolated_settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["report", "--title", "pilot <1>"]) == 0
    (written,) = (isolated_settings / "reports").glob("inv-report-*.html")
    assert f"wrote {written}" in capsys.readouterr().out
    page = written.read_text(encoding="utf-8")
    assert "<title>pilot &lt;1&gt;</title>" in page
    assert "No rebuild has run yet" in page and "0 participants, 0 plays" in page
    assert re.search(r"Written \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


def test_report_out_must_be_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
