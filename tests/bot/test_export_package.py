"""The export stands alone: a valid Frictionless Data Package, every table loads in pandas, class
names in the rows, and every file a row names is in the zip at that very path."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from frictionless import Package, system

from inv import cli
from tests.bot.test_export import played  # noqa: F401  (fixture)
from tests.shell import write_export

FILE_COLUMNS = {
    "clusters.csv": ["map_file"],
    "images.csv": ["crop_file"],
    "layers.csv": ["gradcam_file"],
    "merged_clusters.csv": ["map_file"],
    "global_concepts.csv": ["chart_file", "trend_chart_file"],
}


def unpack(zip_path: Path, where: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(where)
    return where


def test_datapackage_validates_offline_and_every_table_loads_in_pandas(
    played: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = unpack(write_export(tmp_path / "x.zip", with_images=True).path, tmp_path / "x")
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert descriptor["profile"] == "tabular-data-package"  # a standard profile, no custom one
    # Validation reads only the unpacked files: remote loading is switched off.
    with system.use_context(trusted=False):
        report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    # ...and it checks what it declares: an answer of a play that does not exist is caught.
    broken = unpack(tmp_path / "x.zip", tmp_path / "broken")
    answers = pd.read_csv(broken / "answers.csv", dtype=str, keep_default_na=False)
    answers.loc[0, "play_id"] = "999999"
    answers.to_csv(broken / "answers.csv", index=False)
    with system.use_context(trusted=False):
        errors = Package(str(broken / "datapackage.json")).validate().flatten(["type"])
    assert ["foreign-key"] in errors

    resources = {r["name"]: r for r in descriptor["resources"]}
    assert {
        "participants",
        "plays",
        "answers",
        "clusters",
        "images",
        "global_concepts",
        "concept_tests",
    } <= set(resources)
    for resource in descriptor["resources"]:
        fields = resource["schema"]["fields"]
        assert all(f.get("description") for f in fields), resource["name"]
        frame = pd.read_csv(folder / resource["path"])
        assert list(frame.columns) == [f["name"] for f in fields]
        # No column hides behind a DataFrame attribute (frame.flags, frame.rank ...).
        assert not [c for c in frame.columns if hasattr(pd.DataFrame, c)], resource["name"]
        for field in fields:
            if field["type"] == "array":
                values = frame[field["name"]].dropna()
                assert all(isinstance(json.loads(v), list) for v in values), field["name"]

    units = {
        (r["name"], f["name"]): f.get("unit")
        for r in descriptor["resources"]
        for f in r["schema"]["fields"]
    }
    assert units[("clusters", "weight")] == "%" and units[("layers", "kept_weight")] == "%"
    assert "0 = shallowest" in next(
        f["description"] for f in resources["clusters"]["schema"]["fields"] if f["name"] == "depth"
    )
    foreign = resources["answers"]["schema"]["foreignKeys"]
    assert {"fields": ["play_id"], "reference": {"resource": "plays", "fields": ["id"]}} in foreign

    answers = pd.read_csv(folder / "answers.csv")
    assert "quality_flags" in answers.columns and "flags" not in answers.columns
    clusters = pd.read_csv(folder / "clusters.csv")
    images = pd.read_csv(folder / "images.csv")
    manifest = json.loads((folder / "manifest.json").read_text())
    classes = manifest["models"][0]["classes"]
    assert list(clusters["class_name"]) == [classes[i] for i in clusters["class_index"]]
    assert list(images["predicted_class_name"]) == [classes[i] for i in images["predicted_class"]]


@pytest.mark.parametrize("with_images", [False, True])
def test_every_file_a_row_names_is_at_that_path_in_the_zip(
    played: Path,  # noqa: F811
    tmp_path: Path,
    with_images: bool,
) -> None:
    result = write_export(tmp_path / "x.zip", with_images=with_images)
    folder = unpack(result.path, tmp_path / "x")
    named: set[str] = set()
    for table, columns in FILE_COLUMNS.items():
        frame = pd.read_csv(folder / table)
        for column in columns:
            named |= set(frame[column].dropna())
    explanations = json.loads((folder / "global_explanations.json").read_text())["explanations"]
    named |= {e["chart"] for e in explanations if e["chart"]}
    charts = {n for n in named if n.startswith("charts/")}
    assert charts and all((folder / n).is_file() for n in charts)  # charts always travel
    others = named - charts
    assert others  # crops and maps
    if with_images:
        missing = [n for n in others if not (folder / n).is_file()]
        assert missing == [], missing
        assert result.counts["files"] == len(named)
    else:
        assert not any((folder / n).exists() for n in others)


def test_with_images_from_the_command_line(
    played: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "all.zip"
    assert cli.main(["export", "--out", str(out), "--with-images"]) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert any(n.startswith("crops/") for n in names), names


def test_only_files_inside_data_dir_are_packed_under_safe_names(tmp_path: Path) -> None:
    from storage.export_parts import FilePacker

    data = tmp_path / "data"
    (data / "maps").mkdir(parents=True)
    (data / "maps" / "a.png").write_bytes(b"map")
    (tmp_path / "secret.txt").write_bytes(b"server file")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        packer = FilePacker(zf, data)
        assert packer.add("maps/a.png") == "maps/a.png"
        for hostile in ("../secret.txt", str(tmp_path / "secret.txt"), "maps/../maps/a.png"):
            assert packer.add(hostile) is None, hostile
        assert packer.add("maps/missing.png") is None
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert zf.namelist() == ["maps/a.png"]
