"""The files a newcomer reads first: licence, citation, README facts that match the project."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_the_mit_licence_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text


def test_citation_names_the_paper_and_the_software() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["version"] == project["version"] and citation["license"] == "MIT"
    paper = citation["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2024
    assert paper["title"].startswith("Interpretable Network Visualizations")
    assert [a["family-names"] for a in paper["authors"]] == [
        "Bianchi",
        "De Santis",
        "Tocchetti",
        "Brambilla",
    ]


def test_readme_tells_where_the_commands_are_and_how_to_go_live() -> None:
    readme = (ROOT / "README.md").read_text()
    for needed in (
        ".venv/bin/inv",
        "source .venv/bin/activate",
        "darknet",
        "7 GB",
        "Why torch is pinned",
        "## Go live",
        "@BotFather",
        "ADMIN_USER_IDS",
        "Group Privacy",
        "[Service]",
        "ExecStart=",
        ".backup",
        "pseudonym_secret",
        "inv report",
        "datapackage.json",
    ):
        assert needed in readme, needed
    pins = (ROOT / "pyproject.toml").read_text()
    assert "torch==" in pins and "(see README)" in pins
