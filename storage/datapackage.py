"""The export's `datapackage.json`: a Frictionless Data Package describing every CSV table.

Each field has a Table Schema type and a description (units in words and in `unit`: weights in
percent of a layer's importance, depths from 0 at the shallowest explained layer); each table has
its primary key and foreign keys, so a reader can validate and join the tables without this code.
List columns are JSON arrays (`array`), mappings JSON objects (`object`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer

# Column name -> (description, unit or None). Shared names mean the same thing in every table.
COMMON: dict[str, tuple[str, str | None]] = {
    "id": ("row id, unique within this table", None),
    "image_id": ("the image (images.id)", None),
    "layer_id": ("the explained layer of the image (layers.id)", None),
    "cluster_id": ("the challenge's cluster (clusters.id)", None),
    "play_id": ("the play the row belongs to (plays.id)", None),
    "answer_id": ("the answer (answers.id)", None),
    "concept_id": ("the concept (concepts.id)", None),
    "participant": ("pseudonym of the participant (participants.pseudonym)", None),
    "class_index": ("class index in the model's output (the explained class)", None),
    "class_name": ("name of class_index in the model's class list", None),
    "layer_name": ("name of the layer in the model (as hooked)", None),
    "depth": ("position among the explained layers, 0 = shallowest", "layer position from 0"),
    "weight": ("share of the layer's importance this cluster carries", "%"),
    "n_maps": ("number of feature maps in the cluster", None),
    "map_file": ("16-bit greyscale PNG of the cluster map, path from the zip root", None),
    "hint_level": ("hint level reached, 0 = smallest visible area", None),
    "bonus_points": ("points for label agreement", "points"),
    "created_at": ("when the row was created (UTC)", None),
    "generation": ("rebuild generation the row belongs to", None),
    "is_gold": ("a gold-standard challenge used to measure participants", None),
    "active": ("served to players (clusters) / still taking part (participants)", None),
}

DESCRIPTIONS: dict[str, dict[str, tuple[str, str | None]]] = {
    "participants": {
        "pseudonym": ("HMAC of the Telegram id; no Telegram id or name is exported", None),
        "consent_at": ("when the participant agreed to take part (UTC)", None),
        "consent_declined_at": ("when the participant declined (UTC)", None),
        "trust": (
            "weight of the participant's labels, 0 to 1: expected accuracy from the ability the "
            "last rebuild estimated from every play (gold accuracy before any rebuild)",
            None,
        ),
        "gold_seen": ("gold challenges played", None),
        "gold_correct": ("gold challenges guessed right", None),
        "points": ("game points", "points"),
        "streak": ("current run of correct guesses", None),
        "best_streak": ("longest run of correct guesses", None),
        "last_seen_at": ("last interaction (UTC)", None),
    },
    "plays": {
        "stage": ("where the play stopped: reveal, guess, labels, done", None),
        "outcome": ("win, lose, resign or skip; empty while open", None),
        "options": ("class indices offered as guesses (JSON array)", None),
        "options_names": ("class names offered as guesses (JSON array)", None),
        "guessed_class": ("class index the participant picked", None),
        "guessed_class_name": ("name of guessed_class", None),
        "correct": ("the guess was the explained class", None),
        "guess_points": ("points for the guess", "points"),
        "streak_points": ("points for the streak", "points"),
        "served_at": ("when the challenge was sent (UTC)", None),
        "guessed_at": ("when the guess was made (UTC)", None),
        "finished_at": ("when the play ended (UTC)", None),
    },
    "answers": {
        "raw_message": ("the whole message the label came from, as typed", None),
        "label": ("this label as typed", None),
        "normalized": ("lower-cased, whitespace-collapsed label", None),
        "cleaned": ("phrase after spaCy cleaning, set by a rebuild", None),
        "quality_flags": (
            "comma-separated reasons it was not accepted: fast, duplicate, flood",
            None,
        ),
        "accepted": ("the label counts for concepts", None),
    },
    "clusters": {
        "cluster_rank": ("0 = heaviest cluster of its layer", None),
        "channels": ("feature-map (channel) indices in the cluster (JSON array)", None),
    },
    "images": {
        "model_id": ("the model (index into manifest.json's models, by id)", None),
        "sha256": ("SHA-256 of the source image file", None),
        "config_key": ("hash of layers and explanation parameters", None),
        "source_path": ("the image's file name as given to precompute", None),
        "crop_file": ("the crop the model saw and players see, path from the zip root", None),
        "width": ("crop width", "px"),
        "height": ("crop height", "px"),
        "true_class": ("class index from the image folder, if known", None),
        "true_class_name": ("name of true_class", None),
        "predicted_class": ("class index the model predicted", None),
        "predicted_class_name": ("name of predicted_class", None),
        "predicted_prob": ("softmax probability of the prediction, 0 to 1", None),
        "explained_class": ("class index the explanation is for", None),
        "explained_class_name": ("name of explained_class", None),
    },
    "layers": {
        "channels": ("feature maps in the layer", None),
        "kept_channels": ("feature maps kept after pruning", None),
        "height": ("feature-map height", "cells"),
        "width": ("feature-map width", "cells"),
        "kept_weight": ("share of the layer's importance kept after pruning", "%"),
        "gradcam_file": ("Grad-CAM map of the layer, path from the zip root", None),
    },
    "concepts": {
        "name": ("the concept's name (its most common phrase)", None),
        "phrases": ("cleaned phrases grouped into this concept (JSON array)", None),
        "first_generation": ("first rebuild generation with this concept", None),
        "last_generation": ("latest rebuild generation with this concept", None),
    },
    "answer_concepts": {},
    "merged_clusters": {
        "member_cluster_ids": ("clusters merged into this one (JSON array of clusters.id)", None),
        "best_concept_id": ("highest-scoring concept (concepts.id)", None),
        "best_score": ("score of best_concept_id: trust-weighted agreeing labels", None),
        "label_scores": ("concept id -> score (JSON object)", None),
    },
    "concept_tests": {
        "concept_name": ("concept name", None),
        "examples": ("clusters whose best concept it is: the concept's examples", None),
        "random_sets": ("random counterexample sets the concept was tested against", None),
        "score": (
            "TCAV score: share of the class's images whose class score grows along the"
            " concept, averaged over the random sets; empty when not tested",
            None,
        ),
        "p_value": (
            "two-sided t-test against random-vs-random scores, Bonferroni-corrected over"
            " the concepts tested at this class and layer; empty when not tested",
            None,
        ),
        "verdict": (
            "validated, not significant, or too few examples (not tested: too few clusters"
            " carry the concept, or its class has too few images to score it)",
            None,
        ),
    },
    "global_concepts": {
        "concept_rank": ("1 = highest score at this class and layer", None),
        "concept": ("concept name", None),
        "score": ("sum of the concept's trust-weighted agreement over the layer's clusters", None),
        "weight": ("mean share of layer importance of the clusters showing the concept", "%"),
        "clusters": ("merged clusters showing the concept", None),
        "slope": ("change of mean score per layer, over the layers where it appears", None),
        "chart_file": ("panel chart of the class at this layer, path from the zip root", None),
        "trend_chart_file": ("the class's concepts across layers, path from the zip root", None),
    },
}

# Table -> (primary key, [(fields, referenced table, referenced fields)]).
KEYS: dict[str, tuple[list[str], list[tuple[list[str], str, list[str]]]]] = {
    "participants": (["pseudonym"], []),
    "plays": (
        ["id"],
        [(["participant"], "participants", ["pseudonym"]), (["cluster_id"], "clusters", ["id"])],
    ),
    "answers": (
        ["id"],
        [
            (["play_id"], "plays", ["id"]),
            (["participant"], "participants", ["pseudonym"]),
            (["cluster_id"], "clusters", ["id"]),
        ],
    ),
    "clusters": (
        ["id"],
        [(["image_id"], "images", ["id"]), (["layer_id"], "layers", ["id"])],
    ),
    "images": (["id"], []),
    "layers": (["id"], [(["image_id"], "images", ["id"])]),
    "concepts": (["id"], []),
    "answer_concepts": (
        ["answer_id", "concept_id"],
        [(["answer_id"], "answers", ["id"]), (["concept_id"], "concepts", ["id"])],
    ),
    "merged_clusters": (
        ["id"],
        [(["image_id"], "images", ["id"]), (["best_concept_id"], "concepts", ["id"])],
    ),
    "global_concepts": ([], [(["concept_id"], "concepts", ["id"])]),
    "concept_tests": ([], [(["concept_id"], "concepts", ["id"])]),
}

# JSON columns holding a mapping rather than a list.
OBJECT_COLUMNS = {"label_scores"}
# Types of the columns the export derives (they are names, not database columns).
DERIVED_TYPES = {
    "options_names": "array",
    "generation": "integer",
    "class_index": "integer",
    "depth": "integer",
    "concept_rank": "integer",
    "concept_id": "integer",
    "score": "number",
    "weight": "number",
    "clusters": "integer",
    "slope": "number",
}


def field_type(column: Any) -> str:
    """The Table Schema type of a SQLAlchemy column or of a derived column's name."""
    if isinstance(column, str):
        return DERIVED_TYPES.get(column, "string")
    kind = getattr(column, "type", None)
    name = getattr(column, "key", str(column))
    if isinstance(kind, JSON):
        return "object" if name in OBJECT_COLUMNS else "array"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Float):
        return "number"
    if isinstance(kind, DateTime):
        return "datetime"
    return "string"


def describe_field(table: str, name: str, kind: str) -> dict[str, Any]:
    description, unit = DESCRIPTIONS.get(table, {}).get(name) or COMMON.get(name) or ("", None)
    field: dict[str, Any] = {"name": name, "type": kind}
    if kind == "datetime":
        field["format"] = (
            "any"  # ISO 8601, with microseconds and an offset when the database has one
        )
    if description:
        field["description"] = description
    if unit:
        field["unit"] = unit
    return field


def resource(table: str, path: str, fields: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """One tabular resource; keys are declared only for fields the table has."""
    names = {f["name"] for f in fields}
    primary, foreign = KEYS.get(table, ([], []))
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if primary and set(primary) <= names:
        schema["primaryKey"] = primary
    refs = [
        {"fields": f, "reference": {"resource": other, "fields": their}}
        for f, other, their in foreign
        if set(f) <= names
    ]
    if refs:
        schema["foreignKeys"] = refs
    return {
        "name": table,
        "path": path,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": schema,
        "description": f"{rows} rows",
    }


def table_resource(table: str, path: str, columns: Sequence[Any], rows: int) -> dict[str, Any]:
    """The resource of a CSV written with these columns (SQLAlchemy columns or derived names)."""
    fields = [
        describe_field(table, column if isinstance(column, str) else column.key, field_type(column))
        for column in columns
    ]
    return resource(table, path, fields, rows)


def datapackage(name: str, created: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "title": "inv research export",
        "description": (
            "Pseudonymised crowd answers and layer-by-layer explanations of a CNN classifier. "
            "File paths in the tables are relative to the root of this package."
        ),
        "created": created,
        "profile": "tabular-data-package",
        "resources": resources,
    }
