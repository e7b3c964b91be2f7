"""`LabelPipeline`: clean crowd replies, embed them, group them into named concepts.

Grouping corrects misspelt words against a word list (typos.py), embeds the phrases, folds what
WordNet knows into their distances when its files are installed (links.py), and merges phrases up
to the calibrated threshold (grouping.py).

    pipe = LabelPipeline()                       # the default spaCy and Sentence-BERT models
    cleaned = pipe.clean(["Pointy EARS!", "the dog's tail"], class_name="dog")
    concepts = pipe.group([c for c in cleaned if c])
    concepts[0].name, concepts[0].members

spaCy and Sentence-BERT are loaded on first use (once per process), never at import.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from engine.labels.config import DEFAULT_SBERT_MODEL, DEFAULT_SPACY_MODEL
from engine.labels.embed import Embedder, EmbeddingStore
from engine.labels.grouping import (
    MAX_SILHOUETTE_PHRASES,
    MERGE_THRESHOLD,
    complete_linkage,
    cosine_distances,
    merge_linkage,
    name_groups,
    silhouette_cut,
    threshold_cut,
)
from engine.labels.lexicon import DEFAULT_WORDNET_DIR, WordNet, open_wordnet
from engine.labels.links import combined_distances
from engine.labels.text import Cleaner, load_spacy
from engine.labels.typos import Vocabulary, corrections, english_vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Concept:
    """A group of synonymous phrases and the word that names it."""

    name: str
    members: list[int]  # indices into the phrases given to `group`
    phrases: list[str] = field(default_factory=list)  # its distinct phrases, sorted
    weight: float = 0.0  # summed weight (frequency) of its members


def _default_store() -> EmbeddingStore | None:
    """The application's database as a vector cache, when one is chosen, exists and is migrated.

    A notebook without a database still works (vectors are then cached in memory only); the
    lookup never creates a database file.
    """
    from storage.db import chosen_url, get_engine

    url = chosen_url()
    if url is None:
        return None
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if not database or database == ":memory:" or not Path(database).exists():
                return None
        engine = get_engine(url)
        with engine.connect() as conn:
            if not inspect(conn).has_table("phrase_embedding"):
                return None
        return EmbeddingStore(engine)
    except Exception as exc:  # the cache is an optimisation; never fail a notebook over it
        log.warning("labels: no database vector cache (%s: %s)", type(exc).__name__, exc)
        return None


class LabelPipeline:
    """Cleaning, embedding and grouping of crowd labels with one spaCy and one SBERT model."""

    def __init__(
        self,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        sbert_model: str = DEFAULT_SBERT_MODEL,
        *,
        cache: bool | Engine = True,
        threshold: float | None = None,
        silhouette: bool = False,
        wordnet: Path | str | None = DEFAULT_WORDNET_DIR,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        """`cache`: True = the application's database when usable, an Engine = that database,
        False = memory only. `threshold`: merge phrases up to this distance (default: the one
        calibrated on the evaluation sets); `silhouette`: choose the number of groups by
        silhouette per call instead. `wordnet`: the directory of WordNet's noun files, None for
        none (lexical links are then skipped). `vocabulary`: the words typos are corrected
        into (default: wordfreq's English list)."""
        self.spacy_model = spacy_model
        self.sbert_model = sbert_model
        self.threshold = threshold
        self.silhouette = silhouette
        self._wordnet_dir = wordnet
        self._vocabulary = vocabulary
        self._cache_option = cache
        self._cleaner: Cleaner | None = None
        self._embedder: Embedder | None = None

    # -- lazily loaded parts ----------------------------------------------------------------

    @property
    def cleaner(self) -> Cleaner:
        if self._cleaner is None:
            vocabulary = self.vocabulary
            self._cleaner = Cleaner(
                load_spacy(self.spacy_model), lambda w: vocabulary.zipf(w) > 0.0
            )
        return self._cleaner

    @property
    def spacy_pipeline_name(self) -> str:
        """What actually cleans: the package name, or "blank:en+lookups"."""
        return self.cleaner.pipeline.name

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            option = self._cache_option
            if option is True:
                store = _default_store()
            elif option is False:
                store = None
            else:
                store = EmbeddingStore(option)
            self._embedder = Embedder(self.sbert_model, store)
        return self._embedder

    @property
    def wordnet(self) -> WordNet | None:
        return open_wordnet(self._wordnet_dir) if self._wordnet_dir is not None else None

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = english_vocabulary()
        return self._vocabulary

    # -- the three steps ----------------------------------------------------------------------

    def clean(
        self, texts: Sequence[str], class_name: str | Sequence[str] | None = None
    ) -> list[str]:
        """Cleaned phrases, one per text ("" where nothing is left); `class_name` (one name or
        several, e.g. the explained and the guessed class) is stripped from every text."""
        if class_name is None:
            names: tuple[str, ...] = ()
        elif isinstance(class_name, str):
            names = (class_name,)
        else:
            names = tuple(class_name)
        return self.cleaner.clean(texts, [names] * len(texts))

    def clean_each(self, texts: Sequence[str], names: Sequence[Sequence[str]]) -> list[str]:
        """Like `clean`, with its own class names for each text."""
        return self.cleaner.clean(texts, names)

    def embed(self, phrases: Sequence[str]) -> np.ndarray:
        """Unit Sentence-BERT vectors, (len(phrases), dim) float32; each phrase embedded once."""
        return self.embedder.vectors(phrases)

    def group(
        self,
        phrases: Sequence[str],
        weights: Sequence[float] | None = None,
        *,
        threshold: float | None = None,
    ) -> list[Concept]:
        """Concepts over cleaned `phrases`; each phrase (by index) belongs to exactly one.

        Equal phrases always share a concept; `weights` (default 1 each) are their frequencies
        for choosing representatives. The result does not depend on the order of the input.
        """
        if weights is None:
            weights = [1.0] * len(phrases)
        if len(weights) != len(phrases):
            raise ValueError("weights must have one entry per phrase")
        if any(not isinstance(p, str) or not p.strip() for p in phrases):
            raise ValueError("phrases must be non-empty strings (drop what cleaning emptied)")
        if not phrases:
            return []
        distinct = sorted(set(phrases))
        position = {p: i for i, p in enumerate(distinct)}
        freq = np.zeros(len(distinct), dtype=np.float64)
        for phrase, w in zip(phrases, weights, strict=True):
            freq[position[phrase]] += float(w)
        # Misspellings are corrected before synonyms are grouped: phrases that read the same
        # once corrected are one phrase for the grouping.
        fixed = self._corrected(distinct, freq)
        roots = sorted(set(fixed))
        root_position = {r: k for k, r in enumerate(roots)}
        # One batch for the phrases and every candidate word of the representatives.
        words = sorted({w for p in distinct for w in p.split() if not self.cleaner.is_stop(w)})
        self.embed(sorted(set(distinct) | set(roots) | set(words)))
        vectors = self.embed(distinct)
        root_labels = self._cut(roots, self.embed(roots), threshold)
        labels = np.array([root_labels[root_position[fixed[i]]] for i in range(len(distinct))])
        named = name_groups(
            distinct,
            freq,
            vectors,
            labels,
            self.embed,
            self.cleaner.is_stop,
            self.cleaner.lemma,
        )
        group_of = np.empty(len(distinct), dtype=np.int64)
        for g, named_group in enumerate(named):
            group_of[named_group.members] = g
        members: list[list[int]] = [[] for _ in named]
        for i, phrase in enumerate(phrases):
            members[group_of[position[phrase]]].append(i)
        return [
            Concept(g.name, members[j], [distinct[i] for i in g.members], g.weight)
            for j, g in enumerate(named)
        ]

    def _corrected(self, distinct: Sequence[str], freq: np.ndarray) -> list[str]:
        """Each distinct phrase with its misspelt words corrected (see typos.corrections)."""
        counts: dict[str, float] = {}
        for phrase, f in zip(distinct, freq, strict=True):
            for token in phrase.split():
                counts[token] = counts.get(token, 0.0) + float(f)
        fixes = corrections(counts, self.vocabulary, self.cleaner.lemma)
        return [" ".join(fixes.get(t, t) for t in phrase.split()) for phrase in distinct]

    def _cut(self, phrases: list[str], vectors: np.ndarray, threshold: float | None) -> np.ndarray:
        n = vectors.shape[0]
        if n == 1:
            return np.zeros(1, dtype=np.int64)
        dist = cosine_distances(vectors)
        threshold = threshold if threshold is not None else self.threshold
        if threshold is None and self.silhouette and n <= MAX_SILHOUETTE_PHRASES:
            return silhouette_cut(complete_linkage(dist), dist).labels
        if threshold is None:
            threshold = MERGE_THRESHOLD
        dist = combined_distances(phrases, dist, self.wordnet, consider_below=threshold)
        return threshold_cut(merge_linkage(dist), n, threshold)
