"""The quality limits at both sides of every boundary, with the numbers written out.

The constants are used by name elsewhere; here each limit is pinned by a literal, so changing a
limit is a visible decision, not a silent drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.quality import (
    FLAG_DUPLICATE,
    FLAG_FLOOD,
    History,
    flags_text,
    is_fast,
    label_flags,
    over_play_limit,
    parse_labels,
    trust,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def words(n: int) -> list[str]:
    return [f"word{i:02d}" for i in range(n)]


def test_a_label_of_exactly_the_maximum_length_is_accepted_and_one_more_refused() -> None:
    assert parse_labels("x" * 64, max_length=64).labels == ("x" * 64,)
    refused = parse_labels("x" * 65, max_length=64)
    assert refused.problem == "too_long" and refused.limit == 64 and refused.labels == ()


def test_a_message_of_exactly_ten_labels_is_accepted_and_eleven_refused() -> None:
    assert len(parse_labels(", ".join(words(10)), max_length=64).labels) == 10
    refused = parse_labels(", ".join(words(11)), max_length=64)
    assert refused.problem == "too_many" and refused.limit == 10


def test_a_message_of_exactly_1000_characters_is_read_and_1001_refused_unread() -> None:
    # 1,000 characters: a 60-character label padded with spaces (collapsed when split).
    text = "a" * 60 + " " * 940
    assert len(text) == 1000
    assert parse_labels(text, max_length=64).labels == ("a" * 60,)
    refused = parse_labels(text + " ", max_length=64)
    assert refused.problem == "message_too_long" and refused.limit == 1000


def test_the_length_check_comes_before_splitting() -> None:
    # 1,001 characters of commas: refused for its length, not read as an empty message.
    assert parse_labels("," * 1001, max_length=64).problem == "message_too_long"
    assert parse_labels("," * 1000, max_length=64).problem == "empty"


def test_the_fifteenth_label_of_a_play_is_accepted_and_the_sixteenth_refused() -> None:
    assert not over_play_limit(History(play_label_count=14), 1)
    assert over_play_limit(History(play_label_count=15), 1)
    assert not over_play_limit(History(play_label_count=5), 10)
    assert over_play_limit(History(play_label_count=6), 10)


def test_the_twentieth_label_within_thirty_seconds_is_fine_and_the_twenty_first_floods() -> None:
    times = [NOW - timedelta(seconds=30)] * 19  # exactly at the window's edge: still inside
    flags = label_flags(
        ["a", "b"], "a, b", History(recent_label_times=times), now=NOW, play_fast=False
    )
    assert FLAG_FLOOD not in flags[0]  # the 20th
    assert FLAG_FLOOD in flags[1]  # the 21st


def test_labels_older_than_thirty_seconds_do_not_count_towards_a_flood() -> None:
    times = [NOW - timedelta(seconds=30.001)] * 40
    flags = label_flags(["a"], "a", History(recent_label_times=times), now=NOW, play_fast=False)
    assert flags == [set()]


def test_copy_paste_is_checked_against_the_last_twenty_messages_only() -> None:
    keys = ["other"] * 19 + ["fur, tail"]  # the 20th newest holds the same message
    flags = label_flags(
        ["fur", "tail"], "fur, tail", History(recent_message_keys=keys), now=NOW, play_fast=False
    )
    assert all(FLAG_DUPLICATE in f for f in flags)
    keys = ["other"] * 20 + ["fur, tail"]  # the 21st newest: too old to count
    flags = label_flags(
        ["fur", "tail"], "fur, tail", History(recent_message_keys=keys), now=NOW, play_fast=False
    )
    assert flags == [set(), set()]


@pytest.mark.parametrize(
    ("correct", "seen", "expected"), [(0, 0, 0.5), (3, 3, 0.8), (0, 3, 0.2), (1, 2, 0.5)]
)
def test_trust_is_smoothed_gold_accuracy(correct: int, seen: int, expected: float) -> None:
    assert trust(correct, seen) == pytest.approx(expected)


def test_a_guess_exactly_at_the_minimum_time_is_not_fast() -> None:
    assert is_fast(NOW, NOW + timedelta(seconds=1.999), 2)
    assert not is_fast(NOW, NOW + timedelta(seconds=2), 2)


def test_a_key_repeated_within_one_call_is_a_duplicate_the_second_time() -> None:
    flags = label_flags(
        ["fur", "fur", "tail"], "fur, fur, tail", History(), now=NOW, play_fast=False
    )
    assert flags == [set(), {FLAG_DUPLICATE}, set()]


def test_flags_are_stored_sorted_and_comma_separated() -> None:
    assert flags_text({"flood", "duplicate", "fast"}) == "duplicate,fast,flood"
    assert flags_text({"fast"}) == "fast"
    assert flags_text(set()) == ""
