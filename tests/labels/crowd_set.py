"""A hand-built set of crowd-style replies with known groups, for the concept-grouping tests.

Each entry is (reply as typed, group, kind). The kind says how the reply differs from the plain
word: "plain" (the word itself, possibly repeated by several players), "inflection" (plural,
other form), "synonym", "paraphrase" (several words that say the same thing), "filler" (the word
wrapped in hedges or positions such as "something like a ..." or "on the left") and "typo".
Replies are what people type after guessing the class of a masked photo, across animals,
vehicles, buildings, landscapes and objects; the explained class in the tests is "dog", so a few
replies mention it and cleaning must strip it.
"""

from __future__ import annotations

HARD_KINDS = frozenset({"inflection", "synonym", "paraphrase", "filler", "typo"})

REPLIES: list[tuple[str, str, str]] = [
    # ears
    ("ears", "ear", "plain"),
    ("Ears", "ear", "plain"),
    ("ear", "ear", "plain"),
    ("pointy ears", "ear", "paraphrase"),
    ("the dog's ears", "ear", "filler"),
    ("floppy ear on the left", "ear", "filler"),
    # eyes
    ("eyes", "eye", "plain"),
    ("eyes", "eye", "plain"),
    ("the eye", "eye", "inflection"),
    ("two big eyes", "eye", "paraphrase"),
    ("eyez", "eye", "typo"),
    # nose / snout
    ("nose", "nose", "plain"),
    ("nose", "nose", "plain"),
    ("black nose", "nose", "paraphrase"),
    ("snout", "nose", "synonym"),
    ("its wet nose", "nose", "filler"),
    ("noses", "nose", "inflection"),
    # tail
    ("tail", "tail", "plain"),
    ("tail", "tail", "plain"),
    ("the tail", "tail", "filler"),
    ("fluffy tail", "tail", "paraphrase"),
    ("tails", "tail", "inflection"),
    # paws
    ("paws", "paw", "plain"),
    ("paw", "paw", "plain"),
    ("front paws", "paw", "paraphrase"),
    ("paws on the right", "paw", "filler"),
    ("pawss", "paw", "typo"),
    # fur
    ("fur", "fur", "plain"),
    ("fur", "fur", "plain"),
    ("furry", "fur", "inflection"),
    ("soft fur", "fur", "paraphrase"),
    ("fluffy fur coat", "fur", "paraphrase"),
    ("Fur!", "fur", "plain"),
    # whiskers
    ("whiskers", "whisker", "plain"),
    ("whiskers", "whisker", "plain"),
    ("long whiskers", "whisker", "paraphrase"),
    ("whisker", "whisker", "inflection"),
    ("the whiskers maybe", "whisker", "filler"),
    # beak
    ("beak", "beak", "plain"),
    ("beak", "beak", "plain"),
    ("yellow beak", "beak", "paraphrase"),
    ("beaks", "beak", "inflection"),
    ("something like a beak", "beak", "filler"),
    # feathers
    ("feathers", "feather", "plain"),
    ("feathers", "feather", "plain"),
    ("feather", "feather", "inflection"),
    ("white feathers", "feather", "paraphrase"),
    ("plumage", "feather", "synonym"),
    # wings
    ("wings", "wing", "plain"),
    ("wing", "wing", "plain"),
    ("spread wings", "wing", "paraphrase"),
    ("the wings", "wing", "filler"),
    ("wingss", "wing", "typo"),
    # wheels
    ("wheels", "wheel", "plain"),
    ("wheels", "wheel", "plain"),
    ("wheel", "wheel", "inflection"),
    ("round wheels", "wheel", "paraphrase"),
    ("tires", "wheel", "synonym"),
    ("wheell", "wheel", "typo"),
    # windows
    ("windows", "window", "plain"),
    ("window", "window", "plain"),
    ("windows", "window", "plain"),
    ("glass windows", "window", "paraphrase"),
    ("the windows on the upper floor", "window", "filler"),
    # doors
    ("door", "door", "plain"),
    ("door", "door", "plain"),
    ("doors", "door", "inflection"),
    ("front door", "door", "paraphrase"),
    ("doorway", "door", "synonym"),
    # roof
    ("roof", "roof", "plain"),
    ("roof", "roof", "plain"),
    ("rooftop", "roof", "synonym"),
    ("red roof tiles", "roof", "paraphrase"),
    ("roofs", "roof", "inflection"),
    # headlights
    ("headlights", "headlight", "plain"),
    ("headlights", "headlight", "plain"),
    ("headlight", "headlight", "inflection"),
    ("front lights of the car", "headlight", "paraphrase"),
    ("headlamps", "headlight", "synonym"),
    # grass
    ("grass", "grass", "plain"),
    ("grass", "grass", "plain"),
    ("green grass", "grass", "paraphrase"),
    ("lawn", "grass", "synonym"),
    ("grassy field", "grass", "paraphrase"),
    ("grass on the left", "grass", "filler"),
    # sky
    ("sky", "sky", "plain"),
    ("sky", "sky", "plain"),
    ("blue sky", "sky", "paraphrase"),
    ("the sky above", "sky", "filler"),
    ("skies", "sky", "inflection"),
    # water
    ("water", "water", "plain"),
    ("water", "water", "plain"),
    ("the water", "water", "filler"),
    ("blue water", "water", "paraphrase"),
    ("watter", "water", "typo"),
    # trees
    ("trees", "tree", "plain"),
    ("tree", "tree", "plain"),
    ("trees", "tree", "plain"),
    ("pine trees", "tree", "paraphrase"),
    ("a tree in the background", "tree", "filler"),
    # leaves
    ("leaves", "leaf", "plain"),
    ("leaves", "leaf", "plain"),
    ("leaf", "leaf", "inflection"),
    ("green leaves", "leaf", "paraphrase"),
    ("foliage", "leaf", "synonym"),
    # flowers
    ("flowers", "flower", "plain"),
    ("flower", "flower", "plain"),
    ("petals", "flower", "synonym"),
    ("flowres", "flower", "typo"),
    ("pink flowers", "flower", "paraphrase"),
    # stripes
    ("stripes", "stripe", "plain"),
    ("stripes", "stripe", "plain"),
    ("striped", "stripe", "inflection"),
    ("black stripes", "stripe", "paraphrase"),
    ("stripe", "stripe", "inflection"),
    # spots
    ("spots", "spot", "plain"),
    ("spots", "spot", "plain"),
    ("spotted", "spot", "inflection"),
    ("black spots", "spot", "paraphrase"),
    ("spot", "spot", "inflection"),
    # teeth
    ("teeth", "tooth", "plain"),
    ("teeth", "tooth", "plain"),
    ("sharp teeth", "tooth", "paraphrase"),
    ("tooth", "tooth", "inflection"),
    ("fangs", "tooth", "synonym"),
    # collar
    ("collar", "collar", "plain"),
    ("collar", "collar", "plain"),
    ("red collar", "collar", "paraphrase"),
    ("a dog collar", "collar", "filler"),
    ("collars", "collar", "inflection"),
    # screen
    ("screen", "screen", "plain"),
    ("screen", "screen", "plain"),
    ("display", "screen", "synonym"),
    ("monitor screen", "screen", "paraphrase"),
    ("screens", "screen", "inflection"),
    # keyboard
    ("keyboard", "keyboard", "plain"),
    ("keyboard", "keyboard", "plain"),
    ("keyboard keys", "keyboard", "paraphrase"),
    ("keybord", "keyboard", "typo"),
    ("the keyboard at the center", "keyboard", "filler"),
    # smoke
    ("smoke", "smoke", "plain"),
    ("smoke", "smoke", "plain"),
    ("smoky", "smoke", "inflection"),
    ("grey smoke", "smoke", "paraphrase"),
    ("smoke coming out", "smoke", "paraphrase"),
    # fire
    ("fire", "fire", "plain"),
    ("fire", "fire", "plain"),
    ("flames", "fire", "synonym"),
    ("flame", "fire", "synonym"),
    ("burning fire", "fire", "paraphrase"),
    # sand
    ("sand", "sand", "plain"),
    ("sand", "sand", "plain"),
    ("sandy", "sand", "inflection"),
    ("beach sand", "sand", "paraphrase"),
    ("sand dunes", "sand", "paraphrase"),
    # snow
    ("snow", "snow", "plain"),
    ("snow", "snow", "plain"),
    ("snowy", "snow", "inflection"),
    ("white snow", "snow", "paraphrase"),
    ("snow on the ground", "snow", "filler"),
    # text
    ("text", "text", "plain"),
    ("text", "text", "plain"),
    ("letters", "text", "synonym"),
    ("written text", "text", "paraphrase"),
    ("some text at the bottom", "text", "filler"),
    # metal
    ("metal", "metal", "plain"),
    ("metal", "metal", "plain"),
    ("shiny metal", "metal", "paraphrase"),
    ("metallic", "metal", "inflection"),
    ("steel", "metal", "synonym"),
]
