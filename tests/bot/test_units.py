"""Plain functions: callbacks, points, quality, assignment choice, options, texts, nicknames."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot import assignment, callbacks, quality, scoring, texts
from bot.assignment import Candidate
from bot.callbacks import Action, Callback
from bot.profile import validate_nickname
from bot.services import AdminAlerts
from engine.labels.agreement import LabelVote, agreement_bonuses, normalize_label

# ---- callbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cb",
    [
        Callback(Action.HINT, 123, 4),
        Callback(Action.GUESS, 999_999_999_999),
        Callback(Action.OPTION, 5, 9),
        Callback(Action.RESIGN, 1),
        Callback(Action.DONE, 77),
        Callback(Action.NEXT),
        Callback(Action.CONSENT, arg=1),
        Callback(Action.CONSENT, arg=0),
        Callback(Action.FORGET, arg=1_750_000_000),
        Callback(Action.FORGET),
    ],
)
def test_callback_round_trip_fits_64_bytes(cb: Callback) -> None:
    data = callbacks.encode(cb)
    assert 1 <= len(data.encode()) <= 64
    assert callbacks.decode(data) == cb


@pytest.mark.parametrize(
    "data",
    [
        "",
        "x",
        "h:1",
        "h:abc:1",
        "o:1",
        "o:1:100",
        "g:-1",
        "n:1",
        "c:2",
        "f:1",
        "h:1:2:3",
        "g:1 ",
        "💥",
        "o" * 65,
        "g:" + "9" * 13,
        "DROP TABLE play",
    ],
)
def test_garbage_callback_data_is_refused(data: str) -> None:
    assert callbacks.decode(data) is None


def test_callback_data_over_64_bytes_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        callbacks.encode(Callback(Action.HINT, 10**70, 1))


# ---- points ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "points"), [(0, 100), (1, 90), (2, 80), (3, 70), (4, 60), (5, 50)]
)
def test_guess_points_drop_ten_percent_per_hint(level: int, points: int) -> None:
    assert scoring.guess_points(level, correct=True) == points
    assert scoring.guess_points(level, correct=False) == 0
    assert scoring.guess_points(level, correct=True, fast=True) == 0


def test_streaks() -> None:
    assert scoring.next_streak(0, correct=True) == 1
    assert scoring.next_streak(3, correct=True) == 4
    assert scoring.next_streak(3, correct=False) == 0
    assert scoring.next_streak(3, correct=None) == 0
    assert scoring.next_streak(3, correct=True, fast=True) == 3
    # A too-fast guess that is wrong, or a too-fast skip, still breaks the streak.
    assert scoring.next_streak(3, correct=False, fast=True) == 0
    assert scoring.next_streak(3, correct=None, fast=True) == 0
    assert [scoring.streak_points(s) for s in range(1, 9)] == [0, 10, 20, 30, 40, 50, 50, 50]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Stripes", "stripes"),
        ("  the  Pointy   EARS! ", "pointy ears"),
        ("An owl", "owl"),
        ("ＦＵＲ", "fur"),
        ("a", "a"),
        ("«wheels»", "wheels"),
        ("زرافة", "زرافة"),
    ],
)
def test_normalize_label(raw: str, key: str) -> None:
    assert normalize_label(raw) == key


def test_provisional_agreement_needs_another_participant_earlier_and_counts_once_per_play() -> None:
    def vote(answer_id: int, play_id: int, participant_id: int, key: str) -> LabelVote:
        # Before concepts exist, the game's votes are normalised texts on one cluster.
        return LabelVote(answer_id, play_id, participant_id, cluster_id=1, concept=key)

    votes = [
        vote(1, play_id=10, participant_id=1, key="stripes"),
        vote(2, play_id=20, participant_id=2, key="ears"),
        vote(3, play_id=30, participant_id=3, key="stripes"),  # mine: agrees with participant 1
        vote(4, play_id=30, participant_id=3, key="stripes"),  # same key again in the same play
        vote(5, play_id=30, participant_id=3, key="tail"),  # nobody else said it
        vote(6, play_id=40, participant_id=4, key="tail"),  # later than mine: no bonus for me
        vote(7, play_id=30, participant_id=3, key="ears"),
    ]
    bonuses = agreement_bonuses(votes)
    assert {k: bonuses[k] for k in (3, 4, 5, 7)} == {3: 10, 4: 0, 5: 0, 7: 10}
    # Only my own earlier label: no agreement.
    assert agreement_bonuses([vote(1, 5, 9, "x"), vote(2, 6, 9, "x")])[2] == 0


# ---- quality -----------------------------------------------------------------------------------


def test_trust_is_smoothed_gold_accuracy() -> None:
    assert quality.trust(0, 0) == 0.5
    assert quality.trust(3, 3) == pytest.approx(0.8)
    assert quality.trust(0, 4) == pytest.approx(1 / 6)


def test_fast_answers() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert quality.is_fast(t0, t0 + timedelta(seconds=1.9), 2.0)
    assert not quality.is_fast(t0, t0 + timedelta(seconds=2.0), 2.0)


def test_parse_labels() -> None:
    parsed = quality.parse_labels("stripes, Pointy ears;whiskers\n stripes ,", max_length=200)
    assert parsed.labels == ("stripes", "Pointy ears", "whiskers")
    assert parsed.keys == ("stripes", "pointy ears", "whiskers")
    assert parsed.message_key == "stripes, pointy ears, whiskers"
    assert quality.parse_labels("x" * 201, max_length=200).problem == "too_long"
    too_long = quality.parse_labels("x" * 10_000, max_length=200)
    assert (too_long.problem, too_long.limit) == ("message_too_long", 1000)
    assert quality.parse_labels("🙂🙂 , 🐱", max_length=200).problem == "no_words"
    assert quality.parse_labels(" , ; ", max_length=200).problem == "empty"
    assert (
        quality.parse_labels(",".join(f"w{i}" for i in range(11)), max_length=200).problem
        == "too_many"
    )
    assert quality.parse_labels("خطوط, פסים", max_length=200).labels == ("خطوط", "פסים")
    assert quality.parse_labels("🐯 stripes", max_length=200).labels == ("🐯 stripes",)


def test_label_flags() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    history = quality.History(
        play_keys={"stripes"},
        play_label_count=1,
        recent_message_keys=[None, "fur, tail"],
        recent_label_times=[],
    )
    parsed = quality.parse_labels("Stripes, ears", max_length=64)
    flags = quality.label_flags(parsed.keys, parsed.message_key, history, now=now, play_fast=False)
    assert flags == [{"duplicate"}, set()]
    again = quality.parse_labels("Fur,  tail", max_length=64)
    copied = quality.label_flags(again.keys, again.message_key, history, now=now, play_fast=False)
    assert copied == [{"duplicate"}, {"duplicate"}]
    fast = quality.label_flags(["ears"], "ears", quality.History(), now=now, play_fast=True)
    assert fast == [{"fast"}]
    busy = quality.History(
        recent_label_times=[now - timedelta(seconds=5)] * quality.FLOOD_MAX_LABELS
    )
    assert quality.label_flags(["new"], "new", busy, now=now, play_fast=False) == [{"flood"}]
    old = quality.History(recent_label_times=[now - timedelta(minutes=5)] * 100)
    assert quality.label_flags(["new"], "new", old, now=now, play_fast=False) == [set()]
    full = quality.History(play_label_count=quality.MAX_LABELS_PER_PLAY - 1)
    assert not quality.over_play_limit(full, 1) and quality.over_play_limit(full, 2)


# ---- assignment --------------------------------------------------------------------------------


def test_choose_prefers_challenges_closest_to_done() -> None:
    rng = random.Random(0)
    candidates = [
        Candidate(1, 0, False),
        Candidate(2, 3, False),
        Candidate(3, 3, False),
        Candidate(4, 1, False),
    ]
    picks = {assignment.choose(candidates, gold_rate=0.0, rng=rng).cluster_id for _ in range(50)}
    assert picks == {2, 3}
    assert assignment.choose([], gold_rate=0.5, rng=rng) is None


def test_choose_serves_clusters_a_rebuild_found_unsettled_first() -> None:
    rng = random.Random(0)
    candidates = [
        Candidate(1, 0, False, unsettled=True),
        Candidate(2, 3, False),
        Candidate(3, 1, False, unsettled=True),
    ]
    picks = {assignment.choose(candidates, gold_rate=0.0, rng=rng).cluster_id for _ in range(50)}
    assert picks == {3}  # unsettled first, then closest to done among them


def test_adaptive_retirement_spreads_plays_once_a_rebuild_has_judged() -> None:
    rng = random.Random(0)
    candidates = [
        Candidate(1, 2, False, unsettled=True),
        Candidate(2, 4, False, unsettled=True),
        Candidate(3, 3, False),
        Candidate(4, 0, False),
    ]
    pick = assignment.choose(candidates, gold_rate=0.0, rng=rng, fewest_first=True)
    assert pick.cluster_id == 1  # unsettled first, the fewest plays among them
    rest = [c for c in candidates if not c.unsettled]
    assert assignment.choose(rest, gold_rate=0.0, rng=rng, fewest_first=True).cluster_id == 4


def test_gold_rate() -> None:
    rng = random.Random(1)
    candidates = [Candidate(1, 0, True), Candidate(2, 0, False)]
    golds = sum(assignment.choose(candidates, gold_rate=0.1, rng=rng).is_gold for _ in range(4000))
    assert 300 < golds < 500
    assert all(assignment.choose(candidates, gold_rate=1.0, rng=rng).is_gold for _ in range(20))
    assert not any(assignment.choose(candidates, gold_rate=0.0, rng=rng).is_gold for _ in range(20))
    # Only gold left: gold is served whatever the rate.
    assert assignment.choose([Candidate(1, 0, True)], gold_rate=0.0, rng=rng).cluster_id == 1


def test_daily_cap() -> None:
    assert not assignment.daily_cap_reached(199, 200)
    assert assignment.daily_cap_reached(200, 200)


def test_options_come_from_the_collection_then_the_model() -> None:
    rng = random.Random(2)
    for _ in range(50):
        options = assignment.pick_options(3, [3, 5, 7], 1000, n=6, rng=rng)
        assert len(options) == 6 and len(set(options)) == 6 and 3 in options
        assert {5, 7} <= set(options)  # the collection's other classes come first
    big = assignment.pick_options(1, list(range(50)), 1000, n=6, rng=rng)
    assert set(big) <= set(range(50))
    assert sorted(assignment.pick_options(0, [0, 1], 3, n=6, rng=rng)) == [
        0,
        1,
        2,
    ]  # a 3-class model
    assert len(assignment.pick_options(0, [0], 100, n=40, rng=rng)) == 10
    assert len(assignment.pick_options(0, [0], 100, n=1, rng=rng)) == 4


# ---- texts and names ---------------------------------------------------------------------------


def test_challenge_numbers_are_read_back_from_captions() -> None:
    caption = texts.challenge_caption(12, 0, 6, 100)
    assert caption.startswith("Challenge 12 ●○○○○○") and texts.ordinal_in(caption) == 12
    assert texts.ordinal_in(f"{texts.SKIPPED_PREVIOUS}\n{caption}") == 12
    assert texts.ordinal_in(None) == 0 and texts.ordinal_in("Right! The AI took this") == 0
    assert texts.challenge_caption(0, 5, 6, 50).startswith("●●●●●● now worth 50 points")


def test_captions_show_progress_and_stakes_within_200_characters() -> None:
    assert texts.dots(0, 6) == "●○○○○○" and texts.dots(3, 6) == "●●●●○○"
    for level in range(6):
        points = 100 - 10 * level
        caption = texts.challenge_caption(9999, level, 6, points)
        assert texts.dots(level, 6) in caption and f"worth {points} points" in caption
        assert len(f"{texts.SKIPPED_PREVIOUS}\n{caption}") <= texts.MAX_SHORT_CAPTION
        assert ("Show more" in caption) == (level < 5)
    long_answer = texts.class_label("y" * 2000)
    for correct, fast in ((True, False), (False, False), (False, True)):
        caption = texts.result_caption(correct, long_answer, 0.999, 100, 50, fast, "middle", 12)
        assert len(caption) <= texts.MAX_SHORT_CAPTION
        assert caption.endswith("press Done."), caption
    assert "streak of 12 is lost" in texts.result_caption(
        False, "cat", None, 0, 0, False, "late", 12
    )
    assert "lost" not in texts.result_caption(False, "cat", None, 0, 0, False, "late", 1)
    gave_up = texts.resign_caption("tiger cat", 0.388, "early", 3)
    assert gave_up.startswith("You gave up. The AI took this for: tiger cat (39% sure).")
    assert "streak of 3 is lost" in gave_up and "an early stage" in gave_up


def test_stages_are_named_from_the_depth() -> None:
    assert [texts.stage_name(d, 7) for d in range(7)] == [
        "early",
        "early",
        "early",
        "middle",
        "middle",
        "late",
        "late",
    ]
    assert texts.stage_name(0, 1) == "late"


def test_texts_fit_telegram_limits() -> None:
    assert len(texts.fit("x" * 5000, texts.MAX_TEXT)) == texts.MAX_TEXT
    assert texts.fit("short", 10) == "short"
    assert texts.class_label("tabby, tabby cat") == "tabby"
    assert texts.class_label("great_white_shark") == "great white shark"
    assert len(texts.class_label("x" * 300)) <= texts.MAX_BUTTON_TEXT
    assert len(texts.words_so_far(["z" * 200] * 100, 3)) <= texts.MAX_TEXT
    assert len(texts.finish_summary(100, 50, 9990, 999, 10**9, 10**6, 10**6)) <= 200


def test_help_is_a_how_to_with_scoring_and_researcher_commands_only_for_researchers() -> None:
    player = texts.help_text()
    assert player.startswith(texts.HOW_TO) and texts.SCORING in player
    assert len(texts.HOW_TO.splitlines()) == 4  # a heading and three steps
    for command, _ in texts.PLAYER_COMMANDS:
        assert f"/{command}" in player
    for command, _ in texts.ADMIN_COMMANDS:
        assert f"/{command} " not in player
    researcher = texts.help_text(researcher=True, rebuild_available=True)
    for command, _ in texts.ADMIN_COMMANDS:
        assert f"/{command} - " in researcher
    assert "/rebuild" not in texts.help_text(researcher=True, rebuild_available=False)


def test_how_often_in_words() -> None:
    assert texts.every(86400) == "every day"
    assert texts.every(3600) == "every hour"
    assert texts.every(6 * 3600) == "every 6 hours"
    assert texts.every(90) == "every 90 seconds"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Ada", "Ada"),
        ("  Grace   Hopper ", "Grace Hopper"),
        ("ab", None),
        ("x" * 21, None),
        ("12345", None),
        ("<b>hi</b>", None),
        ("Robert'); DROP", None),
        ("Zoë_the-2nd", "Zoë_the-2nd"),
        ("player-1a2b3c", None),
        ("0123456789abcdef", None),
        ("שלום עולם", "שלום עולם"),
    ],
)
def test_nickname_validation(name: str, ok: str | None) -> None:
    assert validate_nickname(name) == ok


def test_admin_alerts_are_rate_limited() -> None:
    alerts = AdminAlerts(interval=60)
    assert alerts.due(1000.0) == 1
    assert alerts.due(1010.0) is None
    assert alerts.due(1020.0) is None
    assert alerts.due(1061.0) == 3


def test_each_button_action_is_routed_by_its_own_pattern() -> None:
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler

    from bot import buttons

    app = ApplicationBuilder().token("123:routing-test").build()
    buttons.register(app)
    routes = [h for h in app.handlers[0] if isinstance(h, CallbackQueryHandler)]
    presses = {
        Action.HINT: callbacks.hint(7, 2),
        Action.GUESS: callbacks.guess(7),
        Action.OPTION: callbacks.option(7, 3),
        Action.RESIGN: callbacks.resign(7),
        Action.DONE: callbacks.done(7),
        Action.NEXT: callbacks.next_challenge(),
        Action.CONSENT: callbacks.consent(True),
        Action.FORGET: callbacks.forget(1_700_000_000),
    }
    for action, data in presses.items():
        matching = [h for h in routes if h.pattern is not None and h.pattern.match(data)]
        assert [h.callback.__name__ for h in matching] == [buttons.PRESSES[action].__name__]
    # Anything else (a longer id, trailing text) reaches only the last, pattern-less handler.
    for forged in ("g:7x", "h:7:2:9", "zz", "c:2"):
        assert not any(h.pattern is not None and h.pattern.match(forged) for h in routes)
    assert routes[-1].pattern is None and routes[-1].callback is buttons.on_invalid
