"""Check Bot API requests against the facts-only extract of the specification.

A request is the method name, its decoded parameters and the names of the file parts it uploaded.
`SpecValidator.validate_request` returns one `Violation` per problem:

- the method does not exist;
- a required field is missing (also "required unless another field is given");
- a field is unknown (except the short allow-list below);
- a value has the wrong type (recursively through objects, arrays and unions such as InputMedia);
- a string is outside Telegram's length limits (characters after entity parsing, or bytes for
  `callback_data`), a list has too many or too few items, an integer is out of range;
- a union member's discriminator does not match (`InputMediaPhoto.type` must be "photo");
- `attach://name` points at no uploaded part, or an uploaded part is referenced by nothing.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from importlib import resources
from typing import Any

# Fields python-telegram-bot 22.8 still sends that this version of the specification renamed or
# dropped, per method ("*" = any method). Keep this list short and explained.
PTB_ALLOWED_EXTRA: dict[str, frozenset[str]] = {}

ATTACH_PREFIX = "attach://"
HTML_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
        "tg-time",
    ]
)


@dataclass(frozen=True)
class Violation:
    """One way a request broke the specification."""

    method: str
    path: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.method}.{self.path}" if self.path else self.method
        return f"{where}: {self.problem}"


class EntityParseError(ValueError):
    """Markup that Telegram would refuse with "can't parse entities"."""


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise EntityParseError(f"unsupported start tag {tag!r}")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise EntityParseError(f"unmatched end tag {tag!r}")
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text Telegram shows once `parse_mode` markup is parsed (raises EntityParseError)."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "html":
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        if parser.stack:
            raise EntityParseError(f"unclosed tag {parser.stack[-1]!r}")
        return "".join(parser.parts)
    if mode in {"markdown", "markdownv2"}:
        # Approximate: drop escapes and formatting characters (the bot itself sends plain text).
        return re.sub(r"\\(.)|[*_~`|]", lambda m: m.group(1) or "", text)
    return html.unescape(text)


@lru_cache(maxsize=1)
def load_facts() -> dict[str, Any]:
    """The packaged facts (testkit/data/bot_api_facts.json)."""
    text = (
        resources.files("testkit").joinpath("data/bot_api_facts.json").read_text(encoding="utf-8")
    )
    return json.loads(text)


def _scalar_matches(type_name: str, value: Any) -> bool:
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "Boolean":
        return isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    return False


SCALARS = frozenset({"Integer", "Float", "Boolean", "String"})


class SpecValidator:
    """Validates requests against the facts; stateless and safe to share."""

    def __init__(
        self,
        facts: dict[str, Any] | None = None,
        allowed_extra: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.facts = facts or load_facts()
        self.methods: dict[str, Any] = self.facts["methods"]
        self.types: dict[str, Any] = self.facts["types"]
        self.allowed_extra = PTB_ALLOWED_EXTRA if allowed_extra is None else allowed_extra

    # ---- decoding --------------------------------------------------------------------------

    def decode_params(self, method: str, raw: dict[str, str]) -> dict[str, Any]:
        """Form values as sent by clients: strings stay strings, everything else is JSON."""
        fields = self.methods.get(method, {}).get("fields", {})
        decoded: dict[str, Any] = {}
        for name, value in raw.items():
            types = fields.get(name, {}).get("types", [])
            if not isinstance(value, str) or types == ["String"]:
                decoded[name] = value
                continue
            try:
                decoded[name] = json.loads(value)
            except ValueError:
                decoded[name] = value
        return decoded

    # ---- validation ------------------------------------------------------------------------

    def validate_request(
        self,
        method: str,
        params: dict[str, Any],
        file_parts: frozenset[str] | set[str] = frozenset(),
    ) -> list[Violation]:
        spec = self.methods.get(method)
        if spec is None:
            return [Violation(method, "", "unknown method")]
        out: list[Violation] = []
        referenced: set[str] = set()
        present = dict(params)
        # A file uploaded under the field's own name stands for that field (InputFile).
        for part in file_parts:
            if part in spec["fields"] and part not in present:
                present[part] = _UploadedFile(part)
        self._check_object(
            method, "", spec, present, out, referenced, file_parts, method_level=True
        )
        for part in sorted(set(file_parts) - referenced):
            out.append(Violation(method, part, "uploaded file part is not referenced by any field"))
        return out

    def _check_object(
        self,
        method: str,
        path: str,
        spec: dict[str, Any],
        value: dict[str, Any],
        out: list[Violation],
        referenced: set[str],
        file_parts: frozenset[str] | set[str],
        *,
        method_level: bool = False,
    ) -> None:
        fields: dict[str, Any] = spec["fields"]
        allowed = self.allowed_extra.get(method, frozenset()) | self.allowed_extra.get(
            "*", frozenset()
        )
        for name in value:
            if name not in fields and not (method_level and name in allowed):
                out.append(Violation(method, _join(path, name), "unknown field"))
        unless: dict[str, list[str]] = spec.get("required_unless", {})
        for name, field in fields.items():
            if name in value:
                continue
            if field["required"]:
                out.append(Violation(method, _join(path, name), "required field is missing"))
            elif name in unless and not all(other in value for other in unless[name]):
                out.append(
                    Violation(
                        method,
                        _join(path, name),
                        f"required when {' and '.join(unless[name])} is not given",
                    )
                )
        for name, item in value.items():
            field = fields.get(name)
            if field is None:
                continue
            self._check_value(
                method, _join(path, name), field, item, value, out, referenced, file_parts
            )

    def _check_value(
        self,
        method: str,
        path: str,
        field: dict[str, Any],
        value: Any,
        container: dict[str, Any],
        out: list[Violation],
        referenced: set[str],
        file_parts: frozenset[str] | set[str],
    ) -> None:
        # Try each declared type; keep the problems of the closest match.
        best: list[Violation] | None = None
        for type_name in field["types"]:
            problems: list[Violation] = []
            refs: set[str] = set()
            if self._matches(method, path, type_name, value, problems, refs, file_parts):
                if not problems:
                    best = []
                    referenced |= refs
                    break
                if best is None or len(problems) < len(best):
                    best = problems
        if best is None:
            out.append(
                Violation(
                    method, path, f"expected {' or '.join(field['types'])}, got {_describe(value)}"
                )
            )
            return
        if best:
            out.extend(best)
            return
        if "const" in field and value != field["const"]:
            out.append(Violation(method, path, f"must be {field['const']!r}"))
        if isinstance(value, str) and "max_length" in field:
            self._check_length(method, path, field, value, container, out)
        if isinstance(value, list) and "max_items" in field:
            n = len(value)
            if not field["min_items"] <= n <= field["max_items"]:
                out.append(
                    Violation(
                        method,
                        path,
                        f"has {n} items, allowed {field['min_items']}-{field['max_items']}",
                    )
                )
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and "max_value" in field
            and not field["min_value"] <= value <= field["max_value"]
        ):
            out.append(
                Violation(
                    method,
                    path,
                    f"is {value}, allowed {field['min_value']}-{field['max_value']}",
                )
            )

    def _check_length(
        self,
        method: str,
        path: str,
        field: dict[str, Any],
        value: str,
        container: dict[str, Any],
        out: list[Violation],
    ) -> None:
        text = value
        if field.get("after_entities"):
            name = path.rsplit(".", 1)[-1]
            mode = container.get("parse_mode") if name in {"text", "caption"} else None
            mode = container.get(f"{name}_parse_mode", mode)
            try:
                text = visible_text(value, mode)
            except EntityParseError as exc:
                out.append(Violation(method, path, f"can't parse entities: {exc}"))
                return
        if field["length_unit"] == "bytes":
            size, unit = len(text.encode("utf-8")), "bytes"
        else:
            size, unit = len(text), "characters"
        if not field["min_length"] <= size <= field["max_length"]:
            out.append(
                Violation(
                    method,
                    path,
                    f"is {size} {unit}, allowed {field['min_length']}-{field['max_length']}",
                )
            )

    def _matches(
        self,
        method: str,
        path: str,
        type_name: str,
        value: Any,
        out: list[Violation],
        referenced: set[str],
        file_parts: frozenset[str] | set[str],
    ) -> bool:
        """Whether `value` has the shape of `type_name`; deeper problems go to `out`."""
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return False
            inner = type_name[len("Array of ") :]
            for i, item in enumerate(value):
                item_path = f"{path}[{i}]"
                problems: list[Violation] = []
                if not self._matches(
                    method, item_path, inner, item, problems, referenced, file_parts
                ):
                    out.append(
                        Violation(method, item_path, f"expected {inner}, got {_describe(item)}")
                    )
                out.extend(problems)
            return True
        if type_name in SCALARS:
            return _scalar_matches(type_name, value)
        if type_name == "InputFile":
            if isinstance(value, _UploadedFile):
                referenced.add(value.part)
                return True
            if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
                part = value[len(ATTACH_PREFIX) :]
                if part not in file_parts:
                    out.append(Violation(method, path, f"attach://{part} names no uploaded part"))
                referenced.add(part)
                return True
            return False
        spec = self.types.get(type_name)
        if spec is None:
            out.append(Violation(method, path, f"type {type_name} is not in the specification"))
            return True
        if spec.get("subtypes"):
            return self._match_union(
                method, path, spec["subtypes"], value, out, referenced, file_parts
            )
        if not isinstance(value, dict):
            return False
        # A string field typed "InputFile or String" inside an object may carry attach:// refs.
        for name, field in spec["fields"].items():
            item = value.get(name)
            if (
                isinstance(item, str)
                and item.startswith(ATTACH_PREFIX)
                and "String" in field["types"]
            ):
                part = item[len(ATTACH_PREFIX) :]
                if part not in file_parts:
                    out.append(
                        Violation(
                            method, _join(path, name), f"attach://{part} names no uploaded part"
                        )
                    )
                referenced.add(part)
        self._check_object(method, path, spec, value, out, referenced, file_parts)
        return True

    def _match_union(
        self,
        method: str,
        path: str,
        members: list[str],
        value: Any,
        out: list[Violation],
        referenced: set[str],
        file_parts: frozenset[str] | set[str],
    ) -> bool:
        if not isinstance(value, dict):
            return False
        candidates = []
        discriminators: set[str] = set()
        for member in members:
            spec = self.types.get(member, {})
            consts = {n: f["const"] for n, f in spec.get("fields", {}).items() if "const" in f}
            discriminators |= set(consts)
            if consts and all(value.get(n) == c for n, c in consts.items()):
                candidates.append(member)
        if not candidates and discriminators:
            shown = ", ".join(f"{n}={value.get(n)!r}" for n in sorted(discriminators))
            out.append(Violation(method, path, f"{shown} matches none of {', '.join(members)}"))
            return True
        if not candidates:
            candidates = list(members)
        best: tuple[list[Violation], set[str]] | None = None
        for member in candidates:
            problems: list[Violation] = []
            refs: set[str] = set()
            if self._matches(method, path, member, value, problems, refs, file_parts) and (
                best is None or len(problems) < len(best[0])
            ):
                best = (problems, refs)
            if best is not None and not best[0]:
                break
        if best is None:
            return False
        out.extend(best[0])
        referenced |= best[1]
        return True


@dataclass(frozen=True)
class _UploadedFile:
    part: str


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    if isinstance(value, _UploadedFile):
        return "an uploaded file"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"
