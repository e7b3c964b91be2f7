"""Label-message benchmark: the worst-case message at the largest allowed size next to a typical
10-character label, measured in one run.

    .venv/bin/python benchmarks/label_text.py            # 300 rounds, about half a minute
    .venv/bin/python benchmarks/label_text.py --rounds 50

Two measures, each the median over the rounds:

- text: what the bot does with the text of one label message (split, limits, normalising, the
  duplicate and flood checks), on the process's CPU;
- stored: `bot.labelling.add_labels` end to end on a SQLite database (one transaction on the bot's
  database worker), for a player with 20 earlier long messages in their history.

The worst cases are messages an attacker can send at the limits: 1,000 characters made of long
runs of punctuation between letters (what made the old edge-punctuation pattern quadratic), ten
64-character labels, and a message refused for a label over 64 characters. The target is at most
3× the typical label on the `stored` measure (what another player waits behind).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TYPICAL = "car wheels"  # 10 characters


def worst_cases(max_length: int, max_message: int, max_labels: int) -> dict[str, str]:
    run = "!" * (max_length - 2)
    label = "a" + run + "b"  # the longest allowed label, punctuation between two letters
    ten = ",".join(f"{label[:-2]}{i}b" for i in range(max_labels))
    padded_ten = ten + "," * (max_message - len(ten))  # separators fill it to the message limit
    spaced = "a" + " " * (max_message - 2) + "b"  # whitespace collapses: one short label
    punct = ("x" + "!" * (max_length - 3) + "y,") * (max_message // max_length)
    return {
        f"{max_labels} labels of {max_length} chars, {max_message} chars": padded_ten[:max_message],
        f"{max_message} chars of punctuation runs": punct[:max_message],
        f"{max_message} chars, one label over {max_length}": "a" + "!" * (max_message - 2) + "b",
        f"{max_message} chars of whitespace": spaced,
    }


def median_seconds(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def text_cost(message: str, rounds: int) -> float:
    from bot import quality

    now = datetime.now(UTC)
    history = quality.History(
        play_keys={"tail"},
        play_label_count=1,
        recent_message_keys=[f"earlier message {i}" for i in range(20)],
        recent_label_times=[now - timedelta(seconds=i) for i in range(40)],
    )

    def handle() -> None:
        parsed = quality.parse_labels(message, max_length=64)
        if parsed.problem is None:
            quality.label_flags(parsed.keys, parsed.message_key, history, now=now, play_fast=False)

    for _ in range(20):  # warm up
        handle()
    return median_seconds(handle, rounds * 20)


def stored_cost(messages: dict[str, str], rounds: int) -> dict[str, float]:
    """add_labels end to end; each round serves a fresh challenge (a play holds 15 labels)."""
    data_dir = Path(tempfile.mkdtemp(prefix="inv-label-bench-"))
    os.environ.update(
        {"DATA_DIR": str(data_dir), "INV_ENV_FILE": "", "MIN_ANSWER_SECONDS": "0"}
        | {"DAILY_CAP": "1000000"}  # every round serves a challenge to the one player
    )
    os.environ.setdefault("PSEUDONYM_SECRET", "label-benchmark-" + "x" * 32)
    from bot import consent, labelling, play_flow, refusals
    from inv.settings import get_settings
    from storage import migrate
    from storage.db import get_engine, session_scope, use_database
    from storage.repo import get_participant
    from testkit.collection import seed_collection
    from testkit.label_history import EarlierMessage, add_label_history

    settings = get_settings()
    use_database(settings.sqlalchemy_url)
    engine = get_engine()
    migrate.upgrade(engine)
    names = list(messages)
    with session_scope() as session:
        collection = seed_collection(
            session, data_dir, images=rounds * len(names) // 4 + 8, layers=2, clusters_per_layer=2
        )
    player = 777
    consent.record_consent(player, True, key=settings.pseudonym_key())
    # 20 earlier long messages in the player's history.
    with session_scope() as session:
        participant = get_participant(session, player)
        assert participant is not None
        history = [EarlierMessage(f"{n}" + "!" * 990, f"thing {n}", f"{n}") for n in range(20)]
        add_label_history(
            session,
            participant.id or 0,
            collection.cluster_ids[-20:],
            history,
            age=timedelta(hours=2),
        )
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:  # interleaved, so load on the machine hits every case alike
            challenge = play_flow.start_challenge(player, settings).challenge
            play_flow.open_guess(player, challenge.play_id)
            play_flow.make_guess(player, challenge.play_id, 0, settings)
            started = time.perf_counter()
            # A refused message stores nothing, which is what the limits are for.
            with contextlib.suppress(refusals.GameError):
                labelling.add_labels(player, messages[name], settings)
            samples[name].append(time.perf_counter() - started)
            labelling.finish_labels(player, challenge.play_id)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    from bot import quality

    messages = {"typical 10-char label": TYPICAL} | worst_cases(
        64, quality.MAX_MESSAGE_LENGTH, quality.MAX_LABELS_PER_MESSAGE
    )
    text = {name: text_cost(message, args.rounds) for name, message in messages.items()}
    stored = stored_cost(messages, args.rounds)
    base_text, base_stored = text["typical 10-char label"], stored["typical 10-char label"]
    print(f"{'message':<42} {'text µs':>9} {'×':>6} {'stored ms':>10} {'×':>6}")
    for name in messages:
        print(
            f"{name:<42} {text[name] * 1e6:9.1f} {text[name] / base_text:6.2f} "
            f"{stored[name] * 1e3:10.2f} {stored[name] / base_stored:6.2f}"
        )
    worst = max(stored[name] / base_stored for name in messages)
    print(f"worst case stored: {worst:.2f}× the typical label (target ≤ 3×)")


if __name__ == "__main__":
    main()
