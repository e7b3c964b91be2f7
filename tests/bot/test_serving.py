"""Which photos are served: confident answers only, checks only with a known answer, a cooldown
per player that is waived rather than refusing a challenge; and friendly default names."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import serving, texts
from bot.assignment import Candidate
from bot.names import ADJECTIVES, ANIMALS, friendly_name, looks_like_default, unique_name
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Cluster, Image, Play
from testkit.collection import CLASSES, seed_collection
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player


def test_a_photo_is_served_when_the_answer_is_confident_or_the_known_truth() -> None:
    def servable(predicted: int, probability: float, true_class: int | None) -> bool:
        return serving.is_servable(
            predicted=predicted,
            explained=7,
            probability=probability,
            true_class=true_class,
            min_confidence=0.3,
        )

    assert servable(7, 0.3, None) and servable(7, 0.95, 2)
    assert not servable(7, 0.16, None)  # "football helmet" over an astronaut at 16%
    assert servable(7, 0.16, 7)  # unsure, but right
    assert not servable(8, 0.9, 8)  # the map explains another class than the AI's answer


def test_the_cooldown_is_waived_when_only_recent_photos_are_left() -> None:
    photos = {1: serving.Photo(10, True), 2: serving.Photo(10, False), 3: serving.Photo(11, False)}
    candidates = [Candidate(1, 0, True), Candidate(2, 0, True), Candidate(3, 0, False)]
    assert [c.cluster_id for c in serving.eligible(candidates, photos, recent={10})] == [3]
    # Only photo 10 is left: it is served again rather than no challenge at all.
    left = serving.eligible(candidates[:2], photos, recent={10})
    assert [c.cluster_id for c in left] == [1, 2]
    # A check (gold) needs a known, predicted true class.
    assert [c.is_gold for c in left] == [True, False]
    # Clusters of photos that may not be served never are.
    assert serving.eligible([Candidate(4, 0, False)], photos, recent=set()) == []


def test_friendly_names_are_derived_and_unique() -> None:
    name = friendly_name("a1b2c3d4e5f6a7b8")
    adjective, animal = name.split(" ")
    assert adjective in ADJECTIVES and animal in ANIMALS
    assert friendly_name("a1b2c3d4e5f6a7b8") == name  # the same pseudonym, the same name
    taken: set[str] = set()
    for n in range(6000):  # more players than adjective-animal pairs: numbers keep them unique
        chosen = unique_name(f"{n:016x}", lambda candidate: candidate.lower() in taken)
        assert chosen.lower() not in taken
        taken.add(chosen.lower())


@pytest.mark.parametrize(
    ("name", "imitates"),
    [
        ("Sunny Otter", True),
        ("sunny otter 12", True),
        ("Ѕunny Оtter", True),  # Cyrillic Ѕ and О
        ("Mira the Great", False),
        ("Otter", False),
        ("Sunny", False),
    ],
)
def test_nicknames_may_not_take_the_form_of_default_names(name: str, imitates: bool) -> None:
    assert looks_like_default(name) is imitates


@pytest.fixture
def mixed_bot(
    fake: FakeTelegram, bot_env: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotRunner]:
    """Four photos of 4 clusters; photo 2 is an unsure guess; photo 3's answer is unknown and
    only one of its clusters is active, so that at the end only recent photos are left."""
    monkeypatch.setenv("PHOTO_COOLDOWN", "2")
    monkeypatch.setenv("PLAYS_PER_CHALLENGE", "50")
    get_settings.cache_clear()
    with session_scope() as session:
        seed_collection(session, get_settings().data_dir, images=4)
        images = session.exec(select(Image).order_by(Image.id)).all()
        images[2].predicted_prob = 0.16
        images[2].true_class = None
        images[3].true_class = None  # confident, but no known answer: never a check
        images[3].predicted_prob = 0.8
        for cluster in session.exec(select(Cluster).order_by(Cluster.id)).all():
            cluster.is_gold = cluster.rank == 0  # precompute may flag any confident image gold
            if cluster.image_id == images[3].id and not (cluster.depth == 1 and cluster.rank == 0):
                cluster.active = False
    runner = BotRunner(fake, rate_limiter=False).start()
    yield runner
    runner.stop()


def _served() -> list[tuple[int, bool]]:
    with session_scope() as session:
        rows = session.exec(
            select(Cluster.image_id, Play.is_gold)
            .join(Play, Play.cluster_id == Cluster.id)
            .order_by(Play.id)
        ).all()
        return [(image_id, bool(gold)) for image_id, gold in rows]


def test_players_get_confident_photos_checks_with_known_answers_and_variety(
    mixed_bot: BotRunner, fake: FakeTelegram
) -> None:
    with session_scope() as session:
        images = [i.id for i in session.exec(select(Image).order_by(Image.id)).all()]
    player = Player(fake, 8080)
    player.join()
    for _ in range(9):  # every servable cluster (4 + 4 + 1), then nothing is left
        photo = player.play()
        assert "now worth 100 points" in photo.text
        player.press(prefix="r:")
        player.wait("editMessageMedia", predicate=lambda r: r.ok and "gave up" in (r.text or ""))
    served = _served()
    assert len(served) == 9
    shown = [image for image, _gold in served]
    assert images[2] not in shown, "the unsure photo is never served"
    assert {i for i, gold in served if gold} <= {images[0], images[1]}, "checks need the truth"
    # Never the same photo within 2 challenges while another photo is left for the player.
    for m, image in enumerate(shown):
        recent = set(shown[max(0, m - 2) : m])
        left = set(shown[m:])  # photos that still had a cluster for this player
        if left - recent:
            assert image not in recent, (m, shown)
    assert any(shown[m] in shown[max(0, m - 2) : m] for m in range(len(shown))), (
        "at the end only recent photos are left, and they are served rather than refused"
    )
    sent = player.send("/play")
    assert "no challenges for you" in player.wait("sendMessage", after=sent).text


def test_pick_options_mixes_the_networks_confusions_with_other_classes() -> None:
    rng = random.Random(3)
    seen: set[int] = set()
    for _ in range(50):
        options = serving.pick_options(
            5, [5, 40, 41, 42, 43, 44, 45, 46], [5, 1, 2, 3], 1000, n=6, rng=rng
        )
        assert len(options) == len(set(options)) == 6 and 5 in options
        confused = set(options) & {40, 41, 42, 43, 44}
        assert len(confused) == 3  # half of the five wrong answers, among the closest five
        seen |= confused
    assert seen == {40, 41, 42, 43, 44}  # sampled, so the buttons vary between challenges
    # Without confusions (older images): the collection first, then any class.
    options = serving.pick_options(0, [], [0, 1, 2], 4, n=6, rng=rng)
    assert sorted(options) == [0, 1, 2, 3]


@pytest.fixture
def display_bot(
    fake: FakeTelegram, bot_env: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotRunner]:
    """Three photos with 800 px display copies and the network's confusions stored."""
    get_settings.cache_clear()
    data_dir = get_settings().data_dir
    with session_scope() as session:
        seed_collection(session, data_dir, images=3)
        for image in session.exec(select(Image)).all():
            path = data_dir / "displays" / f"{image.id}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            PILImage.new("RGB", (800, 800), (200, 180, 160)).save(path)
            image.display_file = f"displays/{image.id}.jpg"
            image.top_classes = [image.predicted_class, 7, 6, 5, 4]
    runner = BotRunner(fake, rate_limiter=False).start()
    yield runner
    runner.stop()


def test_challenges_show_the_sharper_display_copy_and_confusable_answers(
    display_bot: BotRunner, fake: FakeTelegram
) -> None:
    player = Player(fake, 9090)
    player.join()
    photo = player.play()
    picture = PILImage.open(io.BytesIO(next(iter(photo.files.values()))))
    assert picture.size == (800, 800), "the display copy, not the 64 px crop upscaled"
    pressed = player.press(prefix="g:")
    choices = player.wait("editMessageCaption", after=pressed)
    names = {b["text"] for b in choices.buttons if b["callback_data"].startswith("o:")}
    confusable = {texts.class_label(CLASSES[c]) for c in (7, 6, 5, 4)}
    assert len(names & confusable) >= 2, names
