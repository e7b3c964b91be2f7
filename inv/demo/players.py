"""Simulated players for `inv demo`: they play whole challenges through the fake Bot API.

Each player talks to the real bot exactly as a person would, by sending messages and pressing the
buttons the bot sent; the fake server checks every request against the Bot API spec. What a
person would know by looking (which photo this is, which option names its class) the simulator
reads from the database. Players act one step at a time, in a fixed order drawn from the seed,
so a demo run is reproducible.

Think times follow a human-like log-normal distribution (median about 4 s per step) and are played
back `time_scale` times faster; the demo scales MIN_ANSWER_SECONDS by the same factor.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from bot import callbacks
from inv.demo.vocabulary import NOISE, labels_for
from storage.db import session_scope
from storage.models import Cluster, Image, Participant, Play
from testkit.fake_telegram import FakeTelegram, Sent

FIRST_USER_ID = 710_000_001
REPLY_TIMEOUT_S = 30.0


@dataclass
class PlayerProfile:
    user_id: int
    skill: float  # how often a guess is right at the first hint level
    patience: float  # how many hints they tend to ask for
    noise_rate: float  # share of their labels that are noise
    labels_per_play: tuple[int, ...]


@dataclass
class CrowdResult:
    players: int = 0
    plays: int = 0
    guesses: int = 0
    correct: int = 0
    resigns: int = 0
    labels: int = 0
    noise_labels: int = 0
    seconds: float = 0.0
    exhausted: list[int] = field(default_factory=list)


def make_profiles(count: int, rng: random.Random) -> list[PlayerProfile]:
    return [
        PlayerProfile(
            user_id=FIRST_USER_ID + i,
            skill=rng.uniform(0.35, 0.75),
            patience=rng.uniform(0.3, 2.5),
            noise_rate=rng.choice((0.2, 0.3, 0.3, 0.4)),
            labels_per_play=rng.choice(((1, 2), (2, 2, 3), (1, 2, 3))),
        )
        for i in range(count)
    ]


class CrowdSimulator:
    """Drives `players` through the bot behind `fake`, `challenges` challenges each at most."""

    def __init__(
        self,
        fake: FakeTelegram,
        *,
        seed: int,
        players: int,
        challenges: int,
        time_scale: float,
        noise_floor: float = 0.3,
    ) -> None:
        self.fake = fake
        self.rng = random.Random(seed)
        self.profiles = make_profiles(players, self.rng)
        self.challenges = challenges
        self.time_scale = time_scale
        self.noise_floor = noise_floor
        self.result = CrowdResult(players=players)

    # ---- talking to the bot ------------------------------------------------------------------

    def _think(self, median_s: float = 4.0) -> None:
        seconds = median_s * math.exp(self.rng.gauss(0.0, 0.35))
        time.sleep(seconds * self.time_scale)

    def _reply(self, user_id: int, sent: Sent, method: str | None = None) -> None:
        """Wait until the bot has answered this action in the user's chat."""
        self.fake.wait_for(method, chat_id=user_id, after=sent, timeout=REPLY_TIMEOUT_S)

    def _open_play(self, user_id: int) -> tuple[Play, Cluster, Image] | None:
        with session_scope(readonly=True) as session:
            row = session.exec(
                select(Play, Cluster, Image)
                .join(Participant, Participant.id == Play.participant_id)
                .join(Cluster, Cluster.id == Play.cluster_id)
                .join(Image, Image.id == Cluster.image_id)
                .where(Participant.telegram_id == user_id)
                .order_by(Play.id.desc())  # type: ignore[union-attr]
            ).first()
        return tuple(row) if row else None  # type: ignore[return-value]

    # ---- one player ----------------------------------------------------------------------------

    def join(self, profile: PlayerProfile) -> None:
        sent = self.fake.send(profile.user_id, "/start")
        self._reply(profile.user_id, sent)
        self._think(2.0)
        sent = self.fake.press(profile.user_id, callbacks.consent(True))
        self._reply(profile.user_id, sent)

    def play_one(self, profile: PlayerProfile) -> bool:
        """One whole challenge; False when the bot had nothing left to serve."""
        user = profile.user_id
        before = self._open_play(user)
        sent = self.fake.send(user, "/play")
        self._reply(user, sent)
        current = self._open_play(user)
        if current is None or (before is not None and current[0].id == before[0].id):
            return False
        play, cluster, image = current
        self.result.plays += 1
        level = 0
        hints = min(5, int(self.rng.expovariate(1.0 / profile.patience)))
        for _ in range(hints):
            self._think(3.0)
            sent = self.fake.press(user, callbacks.hint(play.id, level))
            self._reply(user, sent, "editMessageMedia")
            level += 1
        self._think()
        p_right = min(0.97, profile.skill + 0.08 * level + 0.02 * cluster.depth)
        if self.rng.random() < 0.06 + 0.04 * (5 - level) * (1 - profile.skill):
            sent = self.fake.press(user, callbacks.resign(play.id))
            self._reply(user, sent)
            self.result.resigns += 1
            return True
        sent = self.fake.press(user, callbacks.guess(play.id))
        self._reply(user, sent)
        with session_scope(readonly=True) as session:
            options = list(session.get(Play, play.id).options)  # type: ignore[union-attr]
        self._think(2.5)
        if self.rng.random() < p_right and cluster.class_index in options:
            choice = options.index(cluster.class_index)
        else:
            wrong = [i for i, c in enumerate(options) if c != cluster.class_index]
            choice = self.rng.choice(wrong) if wrong else 0
        sent = self.fake.press(user, callbacks.option(play.id, choice))
        self._reply(user, sent)
        self.result.guesses += 1
        self.result.correct += int(options[choice] == cluster.class_index) if options else 0
        photo = Path(image.source_path).stem
        count = self.rng.choice(profile.labels_per_play)
        labels = labels_for(
            photo, self.rng, noise_rate=max(self.noise_floor, profile.noise_rate), count=count
        )
        self.result.labels += len(labels)
        self.result.noise_labels += sum(label in NOISE for label in labels)
        self._think(5.0)
        if self.rng.random() < 0.5:
            sent = self.fake.send(user, ", ".join(labels))
            self._reply(user, sent)  # the words message: sent the first time, then edited
        else:
            for label in labels:
                sent = self.fake.send(user, label)
                self._reply(user, sent)
                self._think(2.0)
        sent = self.fake.press(user, callbacks.done(play.id))
        self._reply(user, sent, "editMessageCaption")  # the summary under the photo
        return True

    def run(self, progress: Callable[[int], object] | None = None) -> CrowdResult:
        """Play until every player has played or run out; `progress(n)` after each n turns.

        A player who runs out of challenges counts their remaining turns as done, so the turns
        always add up to players × challenges.
        """
        started = time.perf_counter()
        for profile in self.profiles:
            self.join(profile)
        remaining = {p.user_id: self.challenges for p in self.profiles}
        active = list(self.profiles)
        while active:
            # Players take turns in an order drawn from the seed, as people come and go.
            self.rng.shuffle(active)
            still = []
            for profile in active:
                if self.play_one(profile):
                    remaining[profile.user_id] -= 1
                    if remaining[profile.user_id] > 0:
                        still.append(profile)
                    done = 1
                else:
                    self.result.exhausted.append(profile.user_id)
                    done = remaining[profile.user_id]
                if progress is not None:
                    progress(done)
            active = still
        self.result.seconds = time.perf_counter() - started
        return self.result
