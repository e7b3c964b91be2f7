"""Which words of a reply name the thing seen: the head noun, its compounds and what it looks like.

"two small fire hydrants on the left, i think" names a fire hydrant. Size, position, quantity and
hedging words say where or how many, not what: left in, "small X" and "big X" become concepts of
their own beside "X". Colour, material and shape words do say what ("red bar" and "green bar" are
different things), so they stay, as does any other describing word.

Two steps, applied to a spaCy doc before stop words go:
- a trailing modifier is cut: a prepositional phrase or clause after the head ("on the left",
  "coiled on the deck", "i think"). With a dependency parse it is the subtree of a `prep`, `acl`,
  `relcl` or `advcl` token; without one (the blank pipeline) it runs from the first preposition
  or clause word to the end. Only a modifier that follows a content word is cut, so "something
  like a beak" and "lots of stallions" keep their noun.
- single words of the size, position, quantity and hedging lists are dropped anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _split(words: str) -> list[str]:
    return words.split()


SIZE_WORDS = frozenset(
    _split(
        """small big large tiny huge little giant massive enormous medium long short tall thin thick
    wide narrow mini miniature bigger smaller biggest smallest larger largest gigantic vast
    oversized"""
    )
)
POSITION_WORDS = frozenset(
    _split(
        """left right top bottom middle center centre front back rear upper lower side above below
    behind background foreground near far inside outside beneath underneath around between nearby
    distant central here there leftmost rightmost"""
    )
)
QUANTITY_WORDS = frozenset(
    _split(
        """some many few several lot lots bunch couple pair multiple all both each every single
    various plenty numerous piece pieces amount whole half pile heap stack slice chunk handful
    bundle"""
    )
)
HEDGE_WORDS = frozenset(
    _split(
        """maybe perhaps probably possibly something like look looks looking kind kinda sort sorta
    type think guess seem seems might could similar thing things i im bit almost mostly
    definitely surely certainly actually just really very quite"""
    )
)
# Colours: kept in phrases like any describing word, and the one kind of word that alone makes two
# phrases different things ("red bar", "green bar"; see links.py).
COLOUR_WORDS = frozenset(
    {
        "red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "black", "white",
        "grey", "gray", "golden", "gold", "silver", "beige", "violet", "turquoise", "maroon",
        "navy", "teal", "cyan", "magenta",
    }
)  # fmt: skip
MODIFIER_WORDS: frozenset[str] = SIZE_WORDS | POSITION_WORDS | QUANTITY_WORDS | HEDGE_WORDS

# Dependency labels of a modifier that trails its head: prepositional phrases and clauses.
_TRAILING_DEPS = frozenset({"prep", "acl", "relcl", "advcl"})
# Without a parse, a trailing modifier starts at one of these words.
_CUT_WORDS = frozenset(
    _split(
        """on in at near by under above below behind inside beside next with from of into onto over
    around between within along across against upon i that which who where while"""
    )
)


def trailing_modifier(doc: Any, is_content: Callable[[Any], bool]) -> set[int]:
    """Indices of the tokens of trailing modifiers in `doc`, to be left out of the phrase."""
    first_content = next((t.i for t in doc if is_content(t)), None)
    if first_content is None:
        return set()
    if doc.has_annotation("DEP"):
        dropped: set[int] = set()
        for token in doc:
            if token.dep_ in _TRAILING_DEPS and token.left_edge.i > first_content:
                dropped.update(t.i for t in token.subtree)
        return dropped
    for token in doc[first_content + 1 :]:
        if token.lower_ in _CUT_WORDS:
            return set(range(token.i, len(doc)))
    return set()


def is_modifier_word(word: str) -> bool:
    """A size, position, quantity or hedging word (lower-case text or lemma)."""
    return word in MODIFIER_WORDS
