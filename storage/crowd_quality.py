"""Crowd-quality figures as the last rebuild left them, for the report, the export and /stats.

- **agreement**: Krippendorff's alpha with the MASI set distance per class × layer (each
  player's concept set per cluster; the rebuild stores it in the layer's explanation payload);
- **settled**: the share of labelled clusters whose top concept the last rebuild found settled;
- **reliability**: how players' trusts are spread (five bins over 0–1), and whether they come
  from abilities estimated from every play or from gold challenges only.

Read-only; plain dictionaries, so the export can write them as JSON.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, select

from storage.models import ClusterStatus, Generation, GlobalExplanation, Participant

TRUST_BINS = 5


def trust_bins(values: list[float]) -> list[dict[str, Any]]:
    """Players per fifth of [0, 1], each bin [low, high) but the last, which holds 1.0 (values
    outside [0, 1] count in the end bins)."""
    counts = [0] * TRUST_BINS
    for value in values:
        counts[min(TRUST_BINS - 1, max(0, int(value * TRUST_BINS)))] += 1
    return [
        {"low": i / TRUST_BINS, "high": (i + 1) / TRUST_BINS, "players": n}
        for i, n in enumerate(counts)
    ]


def crowd_quality(session: Session) -> dict[str, Any]:
    generation = session.exec(select(Generation.id).where(Generation.is_current.is_(True))).first()
    per_layer: list[dict[str, Any]] = []
    method = None
    if generation is not None:
        rows = session.exec(
            select(
                GlobalExplanation.class_index,
                GlobalExplanation.layer_name,
                GlobalExplanation.depth,
                GlobalExplanation.payload,
            )
            .where(GlobalExplanation.generation == generation)
            .order_by(GlobalExplanation.class_index, GlobalExplanation.depth)
        ).all()
        for class_index, layer_name, _depth, payload in rows:
            agreement = (payload or {}).get("agreement")
            if not agreement:
                continue
            method = method or agreement.get("method")
            per_layer.append(
                {
                    "class_index": class_index,
                    "class_name": (payload or {}).get("class_name"),
                    "layer_name": layer_name,
                    "alpha_masi": agreement.get("alpha_masi"),
                    "clusters": agreement.get("clusters", 0),
                    "settled": agreement.get("settled", 0),
                }
            )
    alphas = [r["alpha_masi"] for r in per_layer if r["alpha_masi"] is not None]
    labelled, settled = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(case((ClusterStatus.settled.is_(True), 1), else_=0)), 0),
        ).where(ClusterStatus.labellers > 0)
    ).one()
    trusts = [float(t) for t in session.exec(select(Participant.trust)).all()]
    estimated = session.exec(
        select(func.count()).select_from(Participant).where(Participant.ability.is_not(None))  # type: ignore[union-attr]
    ).one()
    return {
        "agreement": {
            "method": method,
            "alpha_masi_median": round(median(alphas), 4) if alphas else None,
            "alpha_masi_min": min(alphas) if alphas else None,
            "alpha_masi_max": max(alphas) if alphas else None,
            "class_layers": len(alphas),
            "per_class_layer": per_layer,
        },
        "settled": {
            "clusters": int(labelled),
            "settled": int(settled),
            "share": round(int(settled) / int(labelled), 4) if labelled else None,
        },
        "reliability": {
            "source": "ability from every play" if estimated else "gold challenges",
            "players": len(trusts),
            "median": round(median(trusts), 4) if trusts else None,
            "bins": trust_bins(trusts),
        },
    }


def summary_line(quality: dict[str, Any]) -> str:
    """One line: alpha, settled share, reliability spread."""
    agreement, settled, reliability = (
        quality["agreement"],
        quality["settled"],
        quality["reliability"],
    )
    parts = []
    if agreement["alpha_masi_median"] is None:
        parts.append("Agreement: no alpha yet (needs a rebuild with two players on a cluster)")
    else:
        parts.append(
            f"Agreement: alpha (MASI) median {agreement['alpha_masi_median']:.2f} over "
            f"{agreement['class_layers']} class × layer"
        )
    if settled["share"] is not None:
        parts.append(f"{settled['share']:.0%} of {settled['clusters']} labelled clusters settled")
    if reliability["players"]:
        spread = " ".join(str(b["players"]) for b in reliability["bins"])
        parts.append(f"reliability median {reliability['median']:.2f} (per fifth: {spread})")
    return "; ".join(parts) + "."
