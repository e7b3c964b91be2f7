"""What turns crowd labels into concepts: the language models and the thresholds."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SPACY_MODEL = "en_core_web_sm"
DEFAULT_SBERT_MODEL = "all-MiniLM-L6-v2"
# A concept counts for a cluster once this many different players gave it there.
DEFAULT_MIN_AGREEMENT = 2
# A top concept is tested against the network (TCAV) only with this many example clusters.
DEFAULT_MIN_CONCEPT_EXAMPLES = 10


@dataclass(frozen=True)
class LabelConfig:
    """The label models, the agreement threshold and the examples a concept test needs."""

    spacy_model: str = DEFAULT_SPACY_MODEL
    sbert_model: str = DEFAULT_SBERT_MODEL
    min_agreement: int = DEFAULT_MIN_AGREEMENT
    min_concept_examples: int = DEFAULT_MIN_CONCEPT_EXAMPLES
