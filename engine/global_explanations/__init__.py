"""Global explanations: per class and layer, the top concepts of the crowd with
their mean weight and example overlays; per concept, its trend across layers; PNG charts.

Importing this package is cheap (numpy only); matplotlib and the renderer load when drawing.
"""

from __future__ import annotations

from engine.global_explanations.aggregate import (
    EXAMPLES_PER_CONCEPT,
    TOP_CONCEPTS,
    TopConcept,
    Trend,
    layer_trends,
    rising_and_falling,
    top_concepts,
)

__all__ = [
    "EXAMPLES_PER_CONCEPT",
    "TOP_CONCEPTS",
    "TopConcept",
    "Trend",
    "layer_trends",
    "rising_and_falling",
    "top_concepts",
]
