"""Simulated players for `inv demo`: they play whole challenges through the fake Bot API.

Each player talks to the real bot exactly as a person would, by sending messages and pressing the
buttons the bot sent; the fake server checks every request against the Bot API spec. What a
person would know by looking (which photo this is, which option names its class) the simulator
reads from the database. Players act one step at a time, in a fixed order drawn from the seed,
so a demo run is reproducible.

Think times follow a human-like log-normal distribution (median about 4 s per step) and are played
back `time_scale` times faster; the demo scales MIN_ANSWER_SECONDS by the same factor.

The crowd is not all honest, so that the aggregation is tested against a crowd that is hard to
fool. By default at least 10% of the players each are:
- **spammers**: type one junk word on every challenge and guess at random;
- **copy-paste pairs**: a follower who plays right after its partner and pastes the partner's
  labels word for word (the partner is an ordinary player);
- **careless** players: guess badly, type more junk and more typos.
Only this simulator knows who is who; the rebuild sees plays and labels, nothing else.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from bot import callbacks
from inv.demo.vocabulary import NOISE, NOISE_WORDS, labels_for
from storage.db import session_scope
from storage.models import Cluster, Image, Participant, Play
from testkit.fake_telegram import FakeTelegram, Sent

FIRST_USER_ID = 710_000_001
REPLY_TIMEOUT_S = 30.0
# Default shares of the crowd (each rounded up, so a small crowd has one of each).
SPAMMER_SHARE = 0.1
COPY_PAIR_SHARE = 0.1  # players in copy-paste pairs, both members counted
CARELESS_SHARE = 0.1

HONEST = "honest"
SPAMMER = "spammer"
COPIER = "copier"
CARELESS = "careless"


@dataclass
class PlayerProfile:
    user_id: int
    skill: float  # how often a guess is right at the first hint level
    patience: float  # how many hints they tend to ask for
    noise_rate: float  # share of their labels that are noise
    labels_per_play: tuple[int, ...]
    kind: str = HONEST
    junk: str | None = None  # a spammer's one word
    leader: int | None = None  # a copier's partner (user id)
    typo_weight: float = 0.08  # share of real labels typed as the concept's usual typo


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


def make_profiles(
    count: int,
    rng: random.Random,
    *,
    spammers: float = SPAMMER_SHARE,
    copy_pairs: float = COPY_PAIR_SHARE,
    careless: float = CARELESS_SHARE,
) -> list[PlayerProfile]:
    """`count` players; the given shares of them spammers, copy-paste pair members, careless."""
    profiles = [
        PlayerProfile(
            user_id=FIRST_USER_ID + i,
            skill=rng.uniform(0.35, 0.75),
            patience=rng.uniform(0.3, 2.5),
            noise_rate=rng.choice((0.2, 0.3, 0.3, 0.4)),
            labels_per_play=rng.choice(((1, 2), (2, 2, 3), (1, 2, 3))),
        )
        for i in range(count)
    ]
    n_spam = math.ceil(spammers * count - 1e-9)
    n_pairs = math.ceil(copy_pairs * count / 2 - 1e-9)
    n_careless = math.ceil(careless * count - 1e-9)
    order = list(range(count))
    rng.shuffle(order)
    junk = rng.sample(NOISE_WORDS, min(len(NOISE_WORDS), max(n_spam, 1)))
    for k in range(n_spam):
        spammer = profiles[order.pop()]
        spammer.kind, spammer.junk = SPAMMER, junk[k % len(junk)]
        spammer.skill, spammer.patience, spammer.labels_per_play = 0.0, 0.2, (1,)
    for _ in range(n_pairs):
        if len(order) < 2:
            break
        follower, leader = profiles[order.pop()], profiles[order.pop()]
        follower.kind, follower.leader = COPIER, leader.user_id
    for _ in range(n_careless):
        if not order:
            break
        player = profiles[order.pop()]
        player.kind, player.skill, player.patience = CARELESS, 0.15, 0.3
        player.noise_rate, player.typo_weight = 0.6, 0.4
    return profiles


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
        spammers: float = SPAMMER_SHARE,
        copy_pairs: float = COPY_PAIR_SHARE,
        careless: float = CARELESS_SHARE,
        rebuild_every: int = 0,
        rebuild: Callable[[], None] | None = None,
    ) -> None:
        self.fake = fake
        self.rebuild_every = rebuild_every
        self.rebuild = rebuild
        self.rng = random.Random(seed)
        self.profiles = make_profiles(
            players, self.rng, spammers=spammers, copy_pairs=copy_pairs, careless=careless
        )
        self.last_labels: dict[int, list[str]] = {}
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

    def _press(self, user_id: int, data: str) -> Sent:
        """Press a button once it is on screen: a loaded bot may still be sending or editing the
        message that carries it when the player's think time is over."""
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            try:
                return self.fake.press(user_id, data)
            except LookupError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

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
        sent = self._press(profile.user_id, callbacks.consent(True))
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
        # The bot may say something else first; the buttons come with the photo.
        self._reply(user, sent, "sendPhoto")
        self.result.plays += 1
        level = 0
        hints = min(5, int(self.rng.expovariate(1.0 / profile.patience)))
        for _ in range(hints):
            self._think(3.0)
            sent = self._press(user, callbacks.hint(play.id, level))
            self._reply(user, sent, "editMessageMedia")
            level += 1
        self._think()
        p_right = min(0.97, profile.skill + 0.08 * level + 0.02 * cluster.depth)
        if self.rng.random() < 0.06 + 0.04 * (5 - level) * (1 - profile.skill):
            sent = self._press(user, callbacks.resign(play.id))
            self._reply(user, sent)
            self.result.resigns += 1
            return True
        sent = self._press(user, callbacks.guess(play.id))
        self._reply(user, sent)
        with session_scope(readonly=True) as session:
            options = list(session.get(Play, play.id).options)  # type: ignore[union-attr]
        self._think(2.5)
        if self.rng.random() < p_right and cluster.class_index in options:
            choice = options.index(cluster.class_index)
        else:
            wrong = [i for i, c in enumerate(options) if c != cluster.class_index]
            choice = self.rng.choice(wrong) if wrong else 0
        sent = self._press(user, callbacks.option(play.id, choice))
        self._reply(user, sent)
        self.result.guesses += 1
        self.result.correct += int(options[choice] == cluster.class_index) if options else 0
        labels = self._labels(profile, Path(image.source_path).stem)
        self.last_labels[user] = labels
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
        sent = self._press(user, callbacks.done(play.id))
        self._reply(user, sent, "editMessageCaption")  # the summary under the photo
        return True

    def _labels(self, profile: PlayerProfile, photo: str) -> list[str]:
        if profile.kind == SPAMMER and profile.junk:
            return [profile.junk]
        if profile.kind == COPIER and profile.leader in self.last_labels:
            return list(self.last_labels[profile.leader])
        count = self.rng.choice(profile.labels_per_play)
        return labels_for(
            photo,
            self.rng,
            noise_rate=max(self.noise_floor, profile.noise_rate),
            count=count,
            typo_weight=profile.typo_weight,
        )

    def _turns(self, active: list[PlayerProfile]) -> list[PlayerProfile]:
        """A shuffled turn order in which every copier plays right after its partner."""
        self.rng.shuffle(active)
        present = {p.user_id for p in active}
        followers: dict[int, list[PlayerProfile]] = defaultdict(list)
        for p in active:
            if p.kind == COPIER and p.leader in present:
                followers[p.leader].append(p)
        order: list[PlayerProfile] = []
        for p in active:
            if p.kind == COPIER and p.leader in present:
                continue
            order.append(p)
            order.extend(followers.get(p.user_id, []))
        return order

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
            still = []
            for profile in self._turns(active):
                if self.play_one(profile):
                    if (
                        self.rebuild
                        and self.rebuild_every
                        and not (self.result.plays % self.rebuild_every)
                    ):
                        self.rebuild()
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
