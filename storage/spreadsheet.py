"""Cells that are safe to open in a spreadsheet.

Spreadsheet programs run a cell that starts with "=", "+", "-" or "@" as a formula (and some
treat a leading tab or carriage return the same way), so crowd text such as
`=HYPERLINK("http://…")` in an exported CSV would run on a researcher's machine. Text cells that
start with one of these characters get a leading apostrophe, which spreadsheets read as "this is
text" and do not display. Numbers are never changed: a negative weight stays a number.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def spreadsheet_safe(value: Any) -> Any:
    """`value` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return TEXT_MARK + value
    return value
