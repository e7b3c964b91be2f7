"""The hint levels of the game: how much of a cluster map each level reveals.

Level i shows the top HINT_LEVELS[i] % of the map's cells. The renderer draws them and the bot
counts them (how many "show more" presses a challenge has); both read this one tuple. The module
imports nothing, so the bot can read it without loading numpy.
"""

from __future__ import annotations

# Percent of the cluster map revealed at each hint level, smallest first.
HINT_LEVELS: tuple[float, ...] = (2, 4.5, 8, 13, 20, 30)
