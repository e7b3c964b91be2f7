"""Generate the facts-only extract of the Bot API specification that the fake server validates with.

    python -m testkit.fake_telegram.build_facts ../shared/telegram/bot-api-spec.json [--out PATH]

The full specification is prose plus structure; the fake server needs only facts: which methods and
types exist, their fields, the fields' types, which are required (also "required unless another
field is given"), discriminator constants of union members (`InputMediaPhoto.type == "photo"`) and
Telegram's limits (string lengths in characters or bytes, list sizes, integer ranges), which the
specification states inside its descriptions ("1-4096 characters", "1-64 bytes", "list of 1-12
answer options"). Descriptions themselves are not copied. The output is committed as package data
(`testkit/data/bot_api_facts.json`) so that the package works without the specification file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "bot_api_facts.json"

_DASH = r"\s*[-–]\s*"
# "1-4096 characters", "0-200 characters", "1-64 bytes", "1-64 Bytes".
_STRING_LIMIT = re.compile(rf"\b(\d+){_DASH}(\d+)\s+(characters|bytes)\b", re.IGNORECASE)
# "list of 1-12 answer options", "list of 1-100 identifiers", "must include 2-10 items", "List of 1-20 emoji".
_LIST_LIMIT = re.compile(
    rf"(?:list of|include|List of)\s+(\d+){_DASH}(\d+)\b",
)
# "Values between 1-100 are accepted", "...; 1-100. Defaults", "..., 1-100. Defaults", "; 5-2628000".
_INT_LIMIT = re.compile(
    rf"(?:Values between\s+|[;,]\s*)(\d+){_DASH}(\d+)(?=\s*(?:$|\.|are accepted|,))"
)
# Discriminators: 'Type of the media, must be photo', 'always "creator"', 'always “creator”'.
_CONST = re.compile(r"(?:must be|always)\s+[\"“]?([a-z_]+)[\"”]?\s*$")
# "Required if inline_message_id is not specified", "Required if chat_id and message_id are not
# specified", "required if rich_message isn't specified".
_REQUIRED_UNLESS = re.compile(
    r"[Rr]equired if ([a-z_]+)(?: and ([a-z_]+))? (?:is|are) not specified|"
    r"[Rr]equired if ([a-z_]+) isn't specified"
)


def _field_facts(field: dict[str, Any]) -> dict[str, Any]:
    desc = " ".join(field.get("description", "").split())
    types: list[str] = list(field["types"])
    facts: dict[str, Any] = {"types": types, "required": bool(field.get("required"))}
    scalar = types[0] if len(types) == 1 else None
    if "String" in types:
        match = _STRING_LIMIT.search(desc)
        if match:
            facts["min_length"] = int(match.group(1))
            facts["max_length"] = int(match.group(2))
            facts["length_unit"] = "bytes" if match.group(3).lower() == "bytes" else "characters"
            # Telegram counts text "after entities parsing": markup of parse_mode does not count.
            facts["after_entities"] = "after entit" in desc
    if any(t.startswith("Array of") for t in types):
        match = _LIST_LIMIT.search(desc)
        if match:
            facts["min_items"] = int(match.group(1))
            facts["max_items"] = int(match.group(2))
    if scalar == "Integer":
        match = _INT_LIMIT.search(desc)
        if match:
            facts["min_value"] = int(match.group(1))
            facts["max_value"] = int(match.group(2))
    if scalar == "String" and field["name"] in {"type", "status", "source"}:
        match = _CONST.search(desc.split(". ")[0].rstrip("."))
        if match:
            facts["const"] = match.group(1)
    return facts


def _required_unless(fields: list[dict[str, Any]]) -> dict[str, list[str]]:
    names = {f["name"] for f in fields}
    out: dict[str, list[str]] = {}
    for field in fields:
        if field.get("required"):
            continue
        match = _REQUIRED_UNLESS.search(field.get("description", ""))
        if not match:
            continue
        others = [g for g in match.groups() if g]
        if others and all(o in names for o in others):
            out[field["name"]] = others
    return out


def _object_facts(obj: dict[str, Any]) -> dict[str, Any]:
    fields = obj.get("fields", [])
    facts: dict[str, Any] = {"fields": {f["name"]: _field_facts(f) for f in fields}}
    unless = _required_unless(fields)
    if unless:
        facts["required_unless"] = unless
    for key in ("subtypes", "subtype_of", "returns"):
        if obj.get(key):
            facts[key] = list(obj[key])
    return facts


def build_facts(spec: dict[str, Any], *, source_sha256: str = "") -> dict[str, Any]:
    """The facts of `spec` (the parsed bot-api-spec.json) as a JSON-ready dict."""
    return {
        "source": {
            "version": spec.get("version", ""),
            "release_date": spec.get("release_date", ""),
            "sha256": source_sha256,
        },
        "methods": {name: _object_facts(obj) for name, obj in sorted(spec["methods"].items())},
        "types": {name: _object_facts(obj) for name, obj in sorted(spec["types"].items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="path to bot-api-spec.json")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    try:
        raw = args.spec.read_bytes()
        spec = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"build_facts: cannot read {args.spec}: {exc}", file=sys.stderr)
        return 2
    facts = build_facts(spec, source_sha256=hashlib.sha256(raw).hexdigest())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(facts, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(
        f"wrote {args.out}: {len(facts['methods'])} methods, {len(facts['types'])} types "
        f"({facts['source']['version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
