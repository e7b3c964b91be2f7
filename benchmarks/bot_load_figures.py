"""The bot load benchmark's figures: measured from the simulator's phase results, the fake
server's events and the database, printed as they are computed.

Each bot's figures are also what goes into the run's JSON record (benchmarks/record.py); the
targets are ratios of inv's figures to the reference R2 measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.record import Record

# Targets, as ratios to R2 measured in the same run (and an absolute latency at a load that is
# itself a share of inv's own ceiling, so it means the same on any machine).
CEILING_AT_LEAST = 0.75
CPU_AT_MOST = 1.4
P99_AT_MOST_MS = 250.0


# ---- measuring -------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


def outbound_rates(events: list[dict[str, Any]], start: float, end: float) -> dict[str, float]:
    """Messages (requests with a chat_id) per second: mean, and the most in any 1 s window."""
    times = sorted(
        e["at"]
        for e in events
        if e.get("chat_id") is not None and start <= e["at"] <= end and e["method"] != "getUpdates"
    )
    most = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return {
        "messages": len(times),
        "mean_per_s": len(times) / max(end - start, 1e-9),
        "max_in_1s": most,
    }


def database_counts(first_id: int, players: int) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import select

    from storage.db import session_scope
    from storage.models import Answer, Participant, Play

    ids = (Participant.telegram_id >= first_id) & (Participant.telegram_id < first_id + players)
    with session_scope(readonly=True) as session:
        plays = session.exec(
            select(func.count()).select_from(Play).join(Participant).where(ids)
        ).one()
        done = session.exec(
            select(func.count())
            .select_from(Play)
            .join(Participant)
            .where(ids, Play.stage == "done")
        ).one()
        answers = session.exec(
            select(func.count()).select_from(Answer).join(Play).join(Participant).where(ids)
        ).one()
        distinct = session.exec(
            select(func.count()).select_from(
                select(Play.participant_id, Play.cluster_id)
                .join(Participant)
                .where(ids)
                .distinct()
                .subquery()
            )
        ).one()
        consented = session.exec(
            select(func.count())
            .select_from(Participant)
            .where(ids, Participant.consent_at.is_not(None))
        ).one()
    return {
        "plays": plays,
        "done": done,
        "answers": answers,
        "distinct_pairs": distinct,
        "participants": consented,
    }


# ---- figures and their report ----------------------------------------------------------------


def reference_figures(
    name: str, results: list[dict[str, Any]], cpu: list[float], written: int | None
) -> dict[str, Any]:
    """R1's or R2's figures from its join and ceiling phases, printed on one line."""
    _join, ceiling = results
    sent = sum(r["sent"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    figures: dict[str, Any] = {
        "ceiling_updates_per_s": ceiling["sent"] / ceiling["seconds"],
        "cpu_ms_per_update": 1000 * (cpu[2] - cpu[1]) / max(ceiling["sent"], 1),
        "requests_per_update": ceiling["requests_per_update"],
        # CPU seconds per wall second the bot got in its ceiling phase: on a shared machine
        # a ceiling is only comparable with another one measured at a similar share.
        "cpu_share": (cpu[2] - cpu[1]) / max(ceiling["seconds"], 1e-9),
        "updates": sent,
        "rows_written": written,
        "lost": bool(errors) or (written is not None and written != sent),
    }
    print(
        f"{name}: ceiling {figures['ceiling_updates_per_s']:.0f} updates/s, "
        f"{figures['cpu_ms_per_update']:.2f} ms CPU per update, "
        f"{figures['requests_per_update']:.2f} server requests per update, "
        f"{figures['cpu_share']:.2f} CPU s per s"
        + (f", {written} rows for {sent} updates" if written is not None else "")
        + (f"; errors: {errors[:3]}" if errors else "")
    )
    return figures


def inv_load_figures(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    cpu: list[float],
    child: list[tuple[float, float]],
    latencies: list[list[float]],
) -> dict[str, Any]:
    """inv's ceiling, steady-phase latency and CPU per update (printed); the database check's
    verdict is added to them afterwards.

    `latencies` are the fake server's (time, latency, time queued) rows from the steady phase.
    """
    join, ceiling, steady = results
    rows = latencies
    in_window = [lat for t, lat, _q in rows if t <= steady["started_at"] + args.steady]
    queued = [q for t, _lat, q in rows if t <= steady["started_at"] + args.steady]
    lat = percentiles(in_window)
    offered = steady["sent"] / steady["sending_seconds"] if steady["sending_seconds"] else 0.0
    throughput = ceiling["sent"] / ceiling["seconds"] if ceiling["seconds"] else 0.0
    cpu_ceiling = 1000 * (cpu[2] - cpu[1]) / max(ceiling["sent"], 1)
    cpu_steady = 1000 * (cpu[3] - cpu[2]) / max(steady["sent"], 1)
    print(
        f"inv: ceiling {ceiling['sent']} updates in {ceiling['seconds']:.2f} s = "
        f"{throughput:.0f} updates/s, {cpu_ceiling:.2f} ms CPU per update, "
        f"{ceiling['requests_per_update']:.2f} server requests per update, "
        f"{(cpu[2] - cpu[1]) / max(ceiling['seconds'], 1e-9):.2f} CPU s per s"
    )
    print(
        f"  steady load: {steady['sent']} updates offered in {steady['sending_seconds']:.1f} s "
        f"({offered:.0f} updates/s = {offered / max(throughput, 1e-9):.2f} of the ceiling), "
        f"{args.players} players, rate limiter {'on' if args.rate_limiter else 'off'}"
    )
    print(
        f"  latency getUpdates hand-out -> first reply request (n={lat['n']}): "
        f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms"
    )
    q = percentiles(queued)
    print(
        f"  (time queued at the server before hand-out: p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms)"
    )
    print(f"  bot process CPU in the steady phase: {cpu_steady:.2f} ms per update")
    for name, result, (fa, sa), (fb, sb) in (
        ("ceiling", ceiling, child[1], child[2]),
        ("steady", steady, child[2], child[3]),
    ):
        n = max(result["sent"], 1)
        print(
            f"  fake server / simulator CPU in the {name} phase: {1000 * (fb - fa) / n:.2f} / "
            f"{1000 * (sb - sa) / n:.2f} ms per update"
        )
    if args.timeline:
        for second in range(int(args.steady)):
            t0 = steady["started_at"] + second
            window = [lat for t, lat, _q in rows if t0 <= t < t0 + 1]
            if window:
                w = percentiles(window)
                print(
                    f"    t={second:3d}s n={w['n']:4d} p50 {w['p50']:6.1f} max {w['max']:6.1f} ms"
                )
    return {
        "ceiling_updates_per_s": throughput,
        "cpu_ms_per_update": cpu_ceiling,
        "requests_per_update": ceiling["requests_per_update"],
        "cpu_share": (cpu[2] - cpu[1]) / max(ceiling["seconds"], 1e-9),
        "steady_offered_per_s": offered,
        "steady_fraction_of_ceiling": offered / max(throughput, 1e-9),
        "steady_latency_ms": lat,
        "steady_cpu_ms_per_update": cpu_steady,
        "join_updates_per_s": join["sent"] / join["seconds"] if join["seconds"] else 0.0,
    }


def database_check(
    args: argparse.Namespace, results: list[dict[str, Any]], counts: dict[str, int], gate: Any
) -> bool:
    """The database against what the simulator sent and saw answered: nothing lost or doubled.

    `gate` is the bot's flood limit, whose refusals are reported next to the check.
    """
    _join, _ceiling, steady = results
    expected = {
        "plays": steady["plays"],
        "done": steady["done"],
        "answers": steady["labels"],
        "distinct_pairs": steady["plays"],
        "participants": args.players,
    }
    errors = [e for r in results for e in r["errors"]]
    ok = counts == expected and not errors
    throttled = sum(r["throttled"] for r in results)
    print(
        f"  flood limit {'off' if not gate.enabled else f'{gate.rate:g}/s burst {gate.burst}'}: "
        f"{gate.dropped} updates dropped; {throttled} steps told to slow down and sent again "
        "(refusals, not losses)"
    )
    print(f"  database: {counts}")
    print(f"  expected: {expected}")
    print(
        f"  check: {'OK, nothing lost or doubled' if ok else 'MISMATCH'}"
        + (f"; errors: {errors[:5]}" if errors else "")
    )
    return ok


def report_outbound(rates: dict[str, float]) -> None:
    print(
        f"\noutbound with the rate limiter (steady phase): {rates['messages']} messages, "
        f"{rates['mean_per_s']:.1f}/s on average, at most {rates['max_in_1s']} in any 1 s window"
    )


def report_group(group: dict[str, Any]) -> None:
    print(
        f"group: {group['posts']} posts; first {group['burst']} at once, then one every "
        f"{group['mean_gap_after_burst_s']:.2f} s; {group['posts_in_first_60s']} within the first 60 s"
    )


def report_targets(
    record: Record, figures: dict[str, Any], references: dict[str, dict[str, Any]], lost: bool
) -> None:
    """inv's figures as ratios to R2 of the same run, into the record and printed."""
    r2 = references["R2"]
    ceiling = figures["ceiling_updates_per_s"] / r2["ceiling_updates_per_s"]
    cpu = figures["cpu_ms_per_update"] / r2["cpu_ms_per_update"]
    p99 = figures["steady_latency_ms"]["p99"]
    record.ratio("ceiling_vs_R2", ceiling, f">= {CEILING_AT_LEAST}", ceiling >= CEILING_AT_LEAST)
    record.ratio("cpu_per_update_vs_R2", cpu, f"<= {CPU_AT_MOST}", cpu <= CPU_AT_MOST)
    record.ratio("steady_p99_ms", p99, f"<= {P99_AT_MOST_MS:g} ms", p99 <= P99_AT_MOST_MS)
    print("targets (inv / R2, same run):")
    print(
        f"  ceiling {ceiling:.2f}x R2 (target >= {CEILING_AT_LEAST}); "
        f"CPU per update {cpu:.2f}x R2 (target <= {CPU_AT_MOST}); "
        f"p99 {p99:.0f} ms at {figures['steady_fraction_of_ceiling']:.2f} of the ceiling "
        f"(target <= {P99_AT_MOST_MS:g} ms); {'nothing lost' if not lost else 'LOST OR DOUBLED'}"
    )
    print(
        f"  R1 {references['R1']['ceiling_updates_per_s']:.0f}/s "
        f"{references['R1']['cpu_ms_per_update']:.2f} ms; R2 {r2['ceiling_updates_per_s']:.0f}/s "
        f"{r2['cpu_ms_per_update']:.2f} ms; inv {figures['ceiling_updates_per_s']:.0f}/s "
        f"{figures['cpu_ms_per_update']:.2f} ms"
    )
