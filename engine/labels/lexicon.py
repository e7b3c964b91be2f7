"""English nouns from WordNet's database files (Debian's `wordnet-base`), read lazily.

Label grouping uses WordNet for what a dictionary knows and an embedding may miss: that
"automobile" and "car" name one thing, that a "fang" is a kind of "tooth". Only the noun files are
read. `index.noun` (one line per lemma, its synsets in order of sense frequency) is loaded on
first use; synsets are read from `data.noun` by seeking to their offset, which *is* their byte
position in the file, so a lookup costs one seek and one line.

WordNet is optional: `open_wordnet()` returns None when the files are missing, and the label
pipeline then groups by embeddings alone.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")


@dataclass(frozen=True)
class Synset:
    offset: int
    lexfile: int  # the lexicographer file: 5 animals, 6 artefacts, 8 body, 20 plants, ...
    lemmas: tuple[str, ...]  # as WordNet spells them ("Ottawa", "fire hydrant")
    hypernyms: tuple[int, ...]  # classes and instance classes
    parts: tuple[int, ...]  # what it is a part, member or substance of, and its parts


# Pointer symbols: hypernym and instance hypernym; part/member/substance holonyms and meronyms.
_HYPERNYM = frozenset({"@", "@i"})
_PART = frozenset({"#p", "#m", "#s", "%p", "%m", "%s"})


class WordNet:
    """Noun senses and their relations; thread-safe, each synset parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, tuple[int, ...]] | None = None
        self._synsets: dict[int, Synset] = {}
        self._lock = threading.Lock()

    # -- lookups ----------------------------------------------------------------------------

    def senses(self, lemma: str) -> tuple[int, ...]:
        """Synset offsets of a noun lemma ("fire hydrant" or "fire_hydrant"), commonest first."""
        key = lemma.strip().lower().replace(" ", "_")
        return self._load_index().get(key, ())

    def knows(self, lemma: str) -> bool:
        return bool(self.senses(lemma))

    def synset(self, offset: int) -> Synset:
        cached = self._synsets.get(offset)
        if cached is not None:
            return cached
        with self._lock, (self.root / "data.noun").open("rb") as handle:
            handle.seek(offset)
            line = handle.readline().decode("utf-8", errors="replace")
        synset = _parse_data_line(line)
        self._synsets[offset] = synset
        return synset

    def ancestors(self, offset: int, max_depth: int) -> dict[int, int]:
        """Each hypernym reachable within max_depth steps, with its fewest steps (self: 0)."""
        found = {offset: 0}
        frontier = [offset]
        for depth in range(1, max_depth + 1):
            nxt: list[int] = []
            for node in frontier:
                for parent in self.synset(node).hypernyms:
                    if parent not in found:
                        found[parent] = depth
                        nxt.append(parent)
            frontier = nxt
        return found

    # -- internals ----------------------------------------------------------------------------

    def _load_index(self) -> dict[str, tuple[int, ...]]:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = _read_index(self.root / "index.noun")
        return self._index


def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
    index: dict[str, tuple[int, ...]] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(" "):
                continue  # the licence header
            fields = line.split()
            # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offsets...
            synset_count = int(fields[2])
            index[fields[0]] = tuple(int(x) for x in fields[-synset_count:])
    return index


def _parse_data_line(line: str) -> Synset:
    fields = line.split(" | ", 1)[0].split()
    offset, lexfile = int(fields[0]), int(fields[1])
    word_count = int(fields[3], 16)
    lemmas = tuple(_lemma_text(fields[4 + 2 * i]) for i in range(word_count))  # word, lex_id pairs
    pos = 4 + 2 * word_count
    pointer_count = int(fields[pos])
    hypernyms: list[int] = []
    parts: list[int] = []
    for i in range(pointer_count):
        symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
        if target_pos != "n":
            continue
        if symbol in _HYPERNYM:
            hypernyms.append(int(target))
        elif symbol in _PART:
            parts.append(int(target))
    return Synset(offset, lexfile, lemmas, tuple(hypernyms), tuple(parts))


def _lemma_text(word: str) -> str:
    # Adjective markers such as "(a)" only occur in adjective files; strip them anyway.
    word = word.split("(", 1)[0]
    return word.replace("_", " ")


_opened: dict[Path, WordNet | None] = {}
_opened_lock = threading.Lock()


def open_wordnet(root: Path | str = DEFAULT_WORDNET_DIR) -> WordNet | None:
    """WordNet from the directory holding index.noun and data.noun; None when they are missing."""
    path = Path(root)
    with _opened_lock:
        if path not in _opened:
            present = (path / "index.noun").is_file() and (path / "data.noun").is_file()
            if not present:
                log.info("labels: no WordNet noun files in %s; grouping by embeddings only", path)
            _opened[path] = WordNet(path) if present else None
        return _opened[path]
