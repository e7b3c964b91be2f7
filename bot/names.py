"""Friendly default names for leaderboards: an adjective and an animal, derived from the pseudonym.

A player who never chose a nickname is shown as, say, "Sunny Otter" rather than
"player-e9063b". The name is a function of the pseudonym (and of an attempt number, tried in
order until a free name is found), so it reveals nothing the pseudonym does not, and it is
stored as the player's nickname when they join so that no two players share it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache

from bot import nicknames


def _words(text: str) -> tuple[str, ...]:
    """A word list written as running text, in order (the order fixes every derived name)."""
    return tuple(text.split())


ADJECTIVES = _words(
    """
    Agile Amber Bold Brave Breezy Bright Calm Cheerful Clever Cosy Curious Daring Dapper Eager
    Fearless Fluffy Friendly Gentle Gleaming Golden Happy Hasty Honest Jolly Keen Kind Lively
    Lucky Merry Mighty Misty Nimble Noble Patient Peppy Plucky Polite Proud Quick Quiet Radiant
    Rapid Rosy Rustic Sharp Shiny Silent Silver Sleek Smart Snappy Spry Steady Sunny Swift Tidy
    Trusty Vivid Wandering Warm Wise Witty Zany Zesty
    """
)
ANIMALS = _words(
    """
    Alpaca Badger Beaver Bison Crane Cricket Dolphin Eagle Falcon Ferret Finch Fox Gazelle Gecko
    Heron Hedgehog Ibis Jackal Jaguar Koala Lark Lemur Leopard Lynx Magpie Marmot Meerkat Mole
    Moose Newt Ocelot Otter Owl Panda Panther Parrot Pelican Penguin Puffin Quail Rabbit Raccoon
    Raven Robin Salmon Seal Sparrow Squirrel Stork Swan Tapir Tiger Toucan Turtle Walrus Weasel
    Whale Wolf Wombat Wren Yak Zebra Orca Bobcat
    """
)
PLAIN_ATTEMPTS = 16  # then a number is added, which always finds a free name


def friendly_name(pseudonym: str, attempt: int = 0) -> str:
    """The `attempt`-th candidate name for `pseudonym`: "Adjective Animal" (then with a number)."""
    digest = hashlib.sha256(f"{pseudonym}:{attempt}".encode()).digest()
    adjective = ADJECTIVES[digest[0] % len(ADJECTIVES)]
    animal = ANIMALS[digest[1] % len(ANIMALS)]
    if attempt < PLAIN_ATTEMPTS:
        return f"{adjective} {animal}"
    return f"{adjective} {animal} {int.from_bytes(digest[2:6], 'big') % 10_000 + attempt}"


def unique_name(pseudonym: str, is_taken: Callable[[str], bool]) -> str:
    """The first candidate name for `pseudonym` that `is_taken` says is free."""
    attempt = 0
    while True:
        name = friendly_name(pseudonym, attempt)
        if not is_taken(name):
            return name
        attempt += 1


_NUMBER_SUFFIX = re.compile(r"\s+\d+$")


@lru_cache(maxsize=1)
def _default_keys() -> frozenset[str]:
    """The look-alike keys of every "Adjective Animal" name."""
    return frozenset(
        key
        for adjective in ADJECTIVES
        for animal in ANIMALS
        for key in nicknames.name_keys(f"{adjective} {animal}")
    )


def looks_like_default(name: str) -> bool:
    """Whether a chosen nickname has the form of a default name ("Sunny Otter", "Sunny Otter 12"),
    in any look-alike letters: such a name could pass for another player's."""
    stem = _NUMBER_SUFFIX.sub("", name.strip())
    return bool(nicknames.name_keys(stem) & _default_keys())
