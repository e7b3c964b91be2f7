"""Simulated players: many people playing whole challenges against a fake Bot API server.

A `SimulatedPlayer` is the state machine of one person: /start and agree, then per challenge
/play, a number of Show more, Guess, an option, labels (one message each or comma-separated),
Done. It acts only after the bot's reply to its previous step has arrived, like a person. A
`Simulator` drives any number of them through the fake server's control routes
(`FakeTelegramClient`), so it can run in another process than the server and the bot.

    async with FakeTelegramClient(url) as fake:
        players = [SimulatedPlayer(10_000 + i, Script(challenges=2)) for i in range(100)]
        result = await Simulator(fake, players, rate=200).run()

`rate` (updates/s) paces what is offered; None sends every ready step at once (saturation).
The load benchmark and the offline demo both use this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from testkit.fake_telegram.client import FakeTelegramClient

Chooser = Callable[["SimulatedPlayer", list[str]], int]
Labeller = Callable[["SimulatedPlayer", int], Sequence[str]]

DEFAULT_WORDS = (
    "stripes",
    "pointy ears",
    "fur",
    "whiskers",
    "wheels",
    "sky",
    "leaves",
    "eyes",
    "tail",
    "metal",
    "water",
    "feathers",
    "nose",
    "grass",
    "shadow",
    "dots",
)


def random_choice(player: SimulatedPlayer, options: list[str]) -> int:
    return player.rng.randrange(len(options))


def random_labels(player: SimulatedPlayer, challenge: int) -> Sequence[str]:
    return player.rng.sample(DEFAULT_WORDS, 2)


@dataclass
class Script:
    """How a simulated player plays."""

    challenges: int = 1
    hints: int = 1
    choose: Chooser = random_choice
    labels: Labeller = random_labels
    one_message: bool = False  # all labels comma-separated in one message, else one per message
    think: tuple[float, float] = (0.0, 0.0)  # seconds between steps, uniform in this range


class Step(Enum):
    START = "start"
    CONSENT = "consent"
    PLAY = "play"
    HINT = "hint"
    GUESS = "guess"
    OPTION = "option"
    LABEL = "label"
    DONE = "done"
    FINISHED = "finished"


# The bot requests that complete each step (what the player waits for before the next one):
# a guess turns the photo into the whole photo; words are listed in one message, sent first and
# then edited; Done puts the summary under the photo.
COMPLETES: dict[Step, tuple[str, ...]] = {
    Step.START: ("sendMessage",),
    Step.CONSENT: ("editMessageText",),
    Step.PLAY: ("sendPhoto",),
    Step.HINT: ("editMessageMedia",),
    Step.GUESS: ("editMessageCaption",),
    Step.OPTION: ("editMessageMedia",),
    Step.LABEL: ("sendMessage", "editMessageText"),
    Step.DONE: ("editMessageCaption", "sendMessage"),
}


@dataclass
class SimulatedPlayer:
    user_id: int
    script: Script = field(default_factory=Script)
    seed: int | None = None
    step: Step = Step.START
    challenge: int = 0
    hints_done: int = 0
    pending_labels: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    option_data: list[str] = field(default_factory=list)
    # What reached the bot and was answered, to compare with the database afterwards.
    plays: int = 0
    labels_sent: int = 0
    done: int = 0
    errors: list[str] = field(default_factory=list)
    waiting: bool = False
    # Steps the bot's flood limit dropped (it said "slow down"); each is sent again later.
    throttled: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.user_id if self.seed is None else self.seed)

    @property
    def finished(self) -> bool:
        return self.step is Step.FINISHED

    def action(self) -> dict[str, Any]:
        """The control action for the current step."""
        uid = self.user_id
        if self.step is Step.START:
            return {"op": "text", "user_id": uid, "text": "/start"}
        if self.step is Step.CONSENT:
            return {"op": "press", "user_id": uid, "data": "c:1"}
        if self.step is Step.PLAY:
            return {"op": "text", "user_id": uid, "text": "/play"}
        if self.step is Step.HINT:
            return {"op": "press", "user_id": uid, "prefix": "h:"}
        if self.step is Step.GUESS:
            return {"op": "press", "user_id": uid, "prefix": "g:"}
        if self.step is Step.OPTION:
            if not self.option_data:
                return {"op": "press", "user_id": uid, "prefix": "o:"}
            index = self.script.choose(self, self.options) % len(self.option_data)
            return {"op": "press", "user_id": uid, "data": self.option_data[index]}
        if self.step is Step.LABEL:
            text = (
                ", ".join(self.pending_labels)
                if self.script.one_message
                else self.pending_labels[0]
            )
            return {"op": "text", "user_id": uid, "text": text}
        if self.step is Step.DONE:
            return {"op": "press", "user_id": uid, "prefix": "d:"}
        raise RuntimeError(f"player {uid} has nothing left to do")

    def completes(self, event: dict[str, Any]) -> bool:
        """Whether `event` (a bot request to this player's chat) is the reply the step waits for."""
        if not event.get("ok", True) or event.get("method") == "answerCallbackQuery":
            return False
        if self.step is Step.PLAY and event["method"] == "sendMessage":
            return True  # no challenge left for this player (or the daily cap)
        return event["method"] in COMPLETES.get(self.step, ())

    def on_reply(self, event: dict[str, Any]) -> None:
        """Advance after the bot answered the current step."""
        step = self.step
        if step is Step.START:
            self.step = Step.CONSENT
        elif step is Step.CONSENT:
            self.step = Step.PLAY if self.script.challenges > 0 else Step.FINISHED
        elif step is Step.PLAY:
            if event["method"] != "sendPhoto":
                self.step = Step.FINISHED
                return
            self.plays += 1
            self.hints_done = 0
            self.step = Step.HINT if self.script.hints > 0 else Step.GUESS
        elif step is Step.HINT:
            self.hints_done += 1
            if self.hints_done >= self.script.hints:
                self.step = Step.GUESS
        elif step is Step.GUESS:
            pairs = [
                (text, data) for text, data in event.get("buttons", []) if data.startswith("o:")
            ]
            self.options = [text for text, _ in pairs]
            self.option_data = [data for _, data in pairs]
            self.step = Step.OPTION
        elif step is Step.OPTION:
            self.pending_labels = list(self.script.labels(self, self.challenge))
            self.step = Step.LABEL if self.pending_labels else Step.DONE
        elif step is Step.LABEL:
            sent = self.pending_labels if self.script.one_message else self.pending_labels[:1]
            self.labels_sent += len(sent)
            self.pending_labels = [] if self.script.one_message else self.pending_labels[1:]
            if not self.pending_labels:
                self.step = Step.DONE
        elif step is Step.DONE:
            self.done += 1
            self.challenge += 1
            self.step = Step.PLAY if self.challenge < self.script.challenges else Step.FINISHED

    def think_time(self) -> float:
        low, high = self.script.think
        return self.rng.uniform(low, high) if high > 0 else 0.0


@dataclass
class SimulationResult:
    sent: int  # updates injected in this run
    seconds: float  # from the first step sent to the last reply received
    sending_seconds: float  # from the first to the last step sent
    plays: int  # totals over the players' lives (all runs)
    labels: int
    done: int
    finished_players: int
    errors: list[str]
    throttled: int  # steps dropped by the bot's flood limit and sent again: not losses
    started_at: float  # wall clock, to select the server's latency samples of this run
    ended_at: float

    @property
    def updates_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "updates_per_second": self.updates_per_second}


class Simulator:
    """Drives simulated players through a fake server's control routes.

    `run` may be called several times (phases); players keep their progress between runs.
    """

    def __init__(
        self,
        fake: FakeTelegramClient,
        players: Sequence[SimulatedPlayer],
        *,
        rate: float | None = None,
        batch: int = 64,
        linger: float = 0.005,
        slow_down_texts: Collection[str] = (),
    ) -> None:
        self.fake = fake
        # The bot's "slow down" replies (a message, or a callback answer): the step they answer
        # was dropped by its flood limit and is sent again later instead of counting as lost.
        self.slow_down_texts = frozenset(slow_down_texts)
        self.players = {p.user_id: p for p in players}
        self.rate = rate
        self.batch = batch
        self.linger = linger
        self._ready: list[tuple[float, int, int]] = []
        self._tie = itertools.count()
        self._since = 0
        self._wake = asyncio.Event()
        self._paused = False
        self.sent = 0
        self._pressed_by: dict[str, int] = {}  # callback query id -> user id
        self.throttle_wait = 2.0  # seconds a player waits after "slow down"

    def _make_ready(self, player: SimulatedPlayer, now: float) -> None:
        if not player.finished:
            heapq.heappush(
                self._ready, (now + player.think_time(), next(self._tie), player.user_id)
            )
            self._wake.set()

    async def _listen(self, stop: asyncio.Event, replies: list[float]) -> None:
        """Follow the bot's requests and advance the players they answer."""
        while not stop.is_set():
            events, self._since = await self.fake.events(
                self._since, timeout=0.2, limit=5000, linger=self.linger
            )
            now = time.monotonic()
            for event in events:
                if self._slowed_down(event, now):
                    continue
                player = self.players.get(event.get("chat_id"))  # type: ignore[arg-type]
                if player is None or not player.waiting or not player.completes(event):
                    continue
                player.waiting = False
                player.on_reply(event)
                replies[0] = now
                if not self._paused:
                    self._make_ready(player, now)

    def _slowed_down(self, event: dict[str, Any], now: float) -> bool:
        """A "slow down" notice: the step was dropped; its player sends it again later."""
        if event.get("method") == "answerCallbackQuery":
            user_id = self._pressed_by.pop(event.get("callback_query_id", ""), 0)
            if event.get("text") not in self.slow_down_texts:
                return False
            player = self.players.get(user_id)
        elif event.get("method") == "sendMessage" and event.get("text") in self.slow_down_texts:
            player = self.players.get(event.get("chat_id"))  # type: ignore[arg-type]
        else:
            return False
        if player is not None and player.waiting:
            player.waiting = False
            player.throttled += 1
            if not self._paused:
                heapq.heappush(
                    self._ready, (now + self.throttle_wait, next(self._tie), player.user_id)
                )
                self._wake.set()
        return True

    async def run(
        self,
        *,
        rate: float | str | None = "default",
        max_updates: int | None = None,
        duration: float | None = None,
        timeout: float = 600.0,
    ) -> SimulationResult:
        """Send steps until every player finished, `max_updates` were sent or `duration` passed;
        then wait for the bot's replies to what was sent and report this run."""
        rate = self.rate if rate == "default" else rate
        self._since = await self._tail()
        self._paused = False
        started_at = time.time()
        start = time.monotonic()
        self._ready.clear()
        for player in self.players.values():
            if not player.waiting:
                self._make_ready(player, start)
        sent = 0
        last_send = start
        replies = [start]
        stop = asyncio.Event()
        listener = asyncio.create_task(self._listen(stop, replies))
        budget = 0.0
        last = start
        try:
            while True:
                now = time.monotonic()
                if now - start > timeout:
                    raise TimeoutError(f"simulation did not finish in {timeout:.0f} s")
                if max_updates is not None and sent >= max_updates:
                    break
                if duration is not None and now - start >= duration:
                    break
                if all(p.finished for p in self.players.values()):
                    break
                if rate is not None:
                    budget = min(budget + (now - last) * float(rate), max(1.0, float(rate) * 0.05))
                last = now
                actions: list[dict[str, Any]] = []
                while self._ready and self._ready[0][0] <= now and len(actions) < self.batch:
                    if rate is not None and budget < 1.0:
                        break
                    if max_updates is not None and sent + len(actions) >= max_updates:
                        break
                    _, _, uid = heapq.heappop(self._ready)
                    player = self.players[uid]
                    actions.append(player.action())
                    player.waiting = True
                    if rate is not None:
                        budget -= 1.0
                if actions:
                    results = await self.fake.actions(actions)
                    sent += len(actions)
                    last_send = time.monotonic()
                    for action, result in zip(actions, results, strict=True):
                        if "query_id" in result:
                            self._pressed_by[result["query_id"]] = action["user_id"]
                        if "error" in result:
                            player = self.players[action["user_id"]]
                            player.errors.append(f"{player.step.value}: {result['error']}")
                            player.waiting = False
                            player.step = Step.FINISHED
                    continue
                self._wake.clear()
                wait = 0.002 if rate is not None else 0.05
                if self._ready:
                    wait = max(0.0005, min(wait, self._ready[0][0] - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            # No new steps; let the bot answer the ones sent.
            self._paused = True
            deadline = time.monotonic() + 60
            while any(p.waiting for p in self.players.values()) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await listener
        self.sent += sent
        players = list(self.players.values())
        stuck = [p.user_id for p in players if p.waiting]
        errors = [e for p in players for e in p.errors]
        if stuck:
            errors.append(
                f"{len(stuck)} players got no reply to their last step (e.g. {stuck[:3]})"
            )
        return SimulationResult(
            sent=sent,
            seconds=max(replies[0], last_send) - start,
            sending_seconds=last_send - start,
            plays=sum(p.plays for p in players),
            labels=sum(p.labels_sent for p in players),
            done=sum(p.done for p in players),
            finished_players=sum(p.finished for p in players),
            errors=errors,
            throttled=sum(p.throttled for p in players),
            started_at=started_at,
            ended_at=time.time(),
        )

    async def _tail(self) -> int:
        """The newest request number now (events before it belong to earlier runs)."""
        stats = await self.fake.stats()
        return int(stats["requests"])


def phase_rate(phase: dict[str, Any], previous: SimulationResult | None) -> float | None:
    """A phase's offered updates/s: its "rate", or "rate_fraction" of what the bot managed in
    the previous phase (a load that means the same on a fast and a slow machine)."""
    fraction = phase.get("rate_fraction")
    if fraction is None:
        rate = phase.get("rate")
        return None if rate is None else float(rate)
    if previous is None or previous.updates_per_second <= 0:
        raise ValueError("rate_fraction needs an earlier phase that got replies")
    return float(fraction) * previous.updates_per_second


async def _main(args: Any) -> None:
    import json

    players = [
        SimulatedPlayer(args.first_id + i, Script(challenges=args.challenges, hints=args.hints))
        for i in range(args.players)
    ]
    async with FakeTelegramClient(args.url) as fake:
        simulator = Simulator(fake, players, slow_down_texts=args.slow_down_text)
        previous: SimulationResult | None = None
        for phase in json.loads(args.phases):
            rate = phase_rate(phase, previous)
            previous = await simulator.run(
                rate=rate,
                max_updates=phase.get("max_updates"),
                duration=phase.get("duration"),
                timeout=phase.get("timeout", 600),
            )
            print(json.dumps({"phase": phase, "rate": rate, **previous.to_json()}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m testkit.simulate --url URL --players N --phases JSON`: one JSON line per phase."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m testkit.simulate", description=main.__doc__)
    parser.add_argument("--url", required=True, help="the fake server's root URL")
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument("--first-id", type=int, default=1_000_000)
    parser.add_argument("--challenges", type=int, default=1000)
    parser.add_argument("--hints", type=int, default=1)
    parser.add_argument(
        "--slow-down-text",
        action="append",
        default=[],
        help="a reply of the bot meaning the step was dropped, to send again later (repeatable)",
    )
    parser.add_argument(
        "--phases",
        default='[{"rate": null}]',
        help='JSON list of {"rate", "rate_fraction", "duration", "max_updates", "timeout"}; '
        "rate_fraction: that share of the previous phase's updates/s",
    )
    args = parser.parse_args(argv)
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
