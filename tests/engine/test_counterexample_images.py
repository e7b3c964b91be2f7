"""Where a class's TCAV counterexamples come from: a bounded random set of other classes' images."""

from __future__ import annotations

import numpy as np

from engine.concept_tests import MAX_COUNTER_IMAGES, counterexample_images


def test_counterexamples_come_from_at_most_thirty_images_of_other_classes() -> None:
    # 20 classes × 10 images, as in the rebuild benchmark: 190 images of other classes.
    image_classes = {image: image // 10 for image in range(200)}
    chosen = counterexample_images(image_classes, 3, np.random.default_rng(3))
    assert MAX_COUNTER_IMAGES == 30
    assert len(chosen) == 30
    assert all(image_classes[i] != 3 for i in chosen)
    # Drawn at random, yet the same for the same class and seed (a rebuild is reproducible).
    assert chosen == counterexample_images(image_classes, 3, np.random.default_rng(3))
    assert chosen != counterexample_images(image_classes, 4, np.random.default_rng(4))
    assert len({image_classes[i] for i in chosen}) > 5  # spread over the other classes


def test_a_small_collection_gives_every_other_image() -> None:
    image_classes = {1: 0, 2: 0, 3: 1, 4: 2, 5: 2}
    assert counterexample_images(image_classes, 0, np.random.default_rng(0)) == {3, 4, 5}
    assert counterexample_images(image_classes, 2, np.random.default_rng(2), limit=2) <= {1, 2, 3}
    assert len(counterexample_images(image_classes, 2, np.random.default_rng(2), limit=2)) == 2
