"""What turns crowd labels into concepts: the language models and the thresholds."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SPACY_MODEL = "en_core_web_sm"
DEFAULT_SBERT_MODEL = "all-MiniLM-L6-v2"
# A concept counts for a cluster once this many different players gave it there.
DEFAULT_MIN_AGREEMENT = 2
# A top concept is tested against the network (TCAV) only with this many example clusters.
DEFAULT_MIN_CONCEPT_EXAMPLES = 10
# ... and only when its class has this many images to score the concept's directions: a TCAV
# score is the share of those images whose class score grows along the direction.
DEFAULT_MIN_TCAV_IMAGES = 10


@dataclass(frozen=True)
class LabelConfig:
    """The label models, the agreement threshold and the examples and images a concept test needs."""

    spacy_model: str = DEFAULT_SPACY_MODEL
    sbert_model: str = DEFAULT_SBERT_MODEL
    min_agreement: int = DEFAULT_MIN_AGREEMENT
    min_concept_examples: int = DEFAULT_MIN_CONCEPT_EXAMPLES
    min_tcav_images: int = DEFAULT_MIN_TCAV_IMAGES
    # ... and a concept needs this reliability-weighted share of a cluster's labellers there, and
    # to pass on `min_clusters` clusters of its class (see engine.labels.aggregation).
    min_support: float = 0.3
    min_clusters: int = 2
    # Label weights: "ability" (estimated by each rebuild from every play) or "gold".
    reliability: str = "ability"
    # The lead of a cluster's top concept that settles it (adaptive retirement).
    settle_margin: float = 0.3
