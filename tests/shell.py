"""What the application shell does, for tests that change settings through the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.rebuild import RebuildReport
from inv.settings import get_settings
from inv.wiring import rebuild_function
from storage import export
from storage.export import ExportResult


def rebuild(**options: Any) -> RebuildReport:
    """The rebuild as `inv rebuild` runs it, bound to the settings in force now."""
    return rebuild_function(get_settings())(**options)


def write_export(out: Path | None = None, **options: Any) -> ExportResult:
    """The export as `inv export` writes it, with the settings in force now."""
    settings = get_settings()
    return export.write_export(
        out, data_dir=settings.data_dir, parameters=settings.export_parameters(), **options
    )
