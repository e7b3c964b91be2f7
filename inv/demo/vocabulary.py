"""What simulated players type about each demo photo, and the noise they type too.

Per photo a handful of concepts; each concept lists ways people write it: the plain word first,
then synonyms, inflections, fillers ("something like a ...") and typos. The noise pool is varied
on purpose (keyboard mashes, off-topic words from many fields) so that no single noise concept
can add up to a top-5 place.
"""

from __future__ import annotations

import random

VOCABULARY: dict[str, list[list[str]]] = {
    "chelsea": [
        ["ear", "ears", "pointy ears", "the ear", "eaar"],
        ["fur", "furry", "fur texture", "soft fur", "furr"],
        ["eye", "eyes", "green eyes", "the eyes", "eyse"],
        ["whiskers", "whisker", "long whiskers", "wiskers"],
        ["nose", "pink nose", "snout", "noze"],
        ["stripes", "striped fur", "stripe pattern", "strips"],
    ],
    "coffee": [
        ["cup", "cups", "a cup", "coffee cup", "cupp"],
        ["saucer", "plate", "small plate", "sauser"],
        ["foam", "froth", "milk foam", "crema", "foamy top"],
        ["spoon", "teaspoon", "metal spoon", "spon"],
        ["handle", "cup handle", "the handle", "handel"],
        ["table", "wooden table", "tabletop"],
    ],
    "astronaut": [
        ["helmet", "space helmet", "helmets", "helmit"],
        ["suit", "spacesuit", "white suit", "suite"],
        ["flag", "american flag", "flags", "falg"],
        ["face", "smiling face", "a face", "fase"],
        ["patch", "badge", "patches", "logo patch"],
        ["glove", "gloves", "hand", "glvoe"],
    ],
    "rocket": [
        ["rocket", "rockets", "the rocket", "rockt"],
        ["launch pad", "launchpad", "launch tower", "pad"],
        ["smoke", "smoke cloud", "exhaust", "smok"],
        ["sky", "blue sky", "clear sky", "skyy"],
        ["tower", "metal tower", "gantry", "towr"],
        ["nose cone", "tip", "pointed tip", "cone"],
    ],
    "motorcycle_left": [
        ["wheel", "wheels", "front wheel", "wheell"],
        ["tyre", "tire", "tires", "rubber tire"],
        ["seat", "saddle", "black seat", "seet"],
        ["handlebar", "handlebars", "handle bar", "handelbar"],
        ["engine", "motor", "engine block", "engin"],
        ["headlight", "lamp", "front light", "headlite"],
    ],
    "motorcycle_right": [
        ["wheel", "wheels", "back wheel", "wheeel"],
        ["tyre", "tire", "tyres", "rubber"],
        ["seat", "saddle", "leather seat", "sate"],
        ["handlebar", "handlebars", "grips", "handlbar"],
        ["engine", "motor", "cylinders", "engien"],
        ["exhaust", "exhaust pipe", "muffler", "exaust"],
    ],
    "china": [
        ["roof", "roofs", "curved roof", "rooof"],
        ["temple", "pagoda", "temples", "templ"],
        ["tree", "trees", "green trees", "tre"],
        ["pillar", "pillars", "red columns", "column"],
        ["sky", "blue sky", "clouds", "skye"],
        ["wall", "walls", "stone wall", "wal"],
    ],
    "flower": [
        ["petal", "petals", "white petals", "petl"],
        ["middle", "yellow middle", "flower middle", "midle"],
        ["leaf", "leaves", "green leaves", "leafs"],
        ["stem", "stems", "green stem", "stemm"],
        ["pollen", "yellow dots", "pollen grains", "polen"],
        ["bee", "insect", "bees", "bea"],
    ],
    "grace_hopper": [
        ["uniform", "navy uniform", "uniforms", "unifrom"],
        ["face", "woman face", "old face", "fcae"],
        ["hat", "cap", "officer hat", "hatt"],
        ["glasses", "eye glasses", "spectacles", "glases"],
        ["medal", "medals", "ribbons", "medel"],
        ["hair", "grey hair", "white hair", "hiar"],
    ],
    "cameraman": [
        ["camera", "cameras", "film camera", "camra"],
        ["tripod", "tripods", "camera stand", "three legs", "tripd"],
        ["coat", "black coat", "overcoat", "cot"],
        ["grass", "lawn", "field", "gras"],
        ["hand", "hands", "fingers", "hnad"],
        ["building", "buildings", "tower", "bulding"],
    ],
    "summer_palace": [
        ["roof", "roofs", "curved roof", "rooof"],
        ["tower", "pagoda", "towers", "towr"],
        ["tree", "trees", "green trees", "tre"],
        ["floor", "storeys", "levels", "flors"],
        ["lake", "water", "the lake", "lak"],
        ["window", "windows", "red windows", "windw"],
    ],
    "helmet": [
        ["helmet", "space helmet", "helmets", "helmit"],
        ["visor", "black visor", "glass", "viser"],
        ["suit", "orange suit", "spacesuit", "suite"],
        ["badge", "name tag", "patch", "bagde"],
        ["shine", "reflection", "shiny", "shinny"],
        ["hose", "connector", "valve", "hoze"],
    ],
    "uniform": [
        ["uniform", "navy uniform", "jacket", "unifrom"],
        ["medal", "medals", "ribbons", "medel"],
        ["button", "buttons", "gold button", "buton"],
        ["tie", "bow tie", "necktie", "tye"],
        ["badge", "name tag", "pin", "bagde"],
        ["collar", "white collar", "shirt", "colar"],
    ],
    "dog": [
        ["dog", "dogs", "puppy", "the dog", "dgo"],
        ["bicycle", "bike", "bicycles", "bycicle"],
        ["truck", "car", "pickup truck", "truk"],
        ["fur", "brown fur", "furry", "furr"],
        ["ear", "ears", "floppy ears", "eras"],
        ["wheel", "wheels", "bike wheel", "wheal"],
    ],
    "eagle": [
        ["beak", "yellow beak", "hooked beak", "beek"],
        ["feather", "feathers", "white feathers", "fethers"],
        ["eye", "eyes", "sharp eye", "eie"],
        ["head", "white head", "bird head", "haed"],
        ["wing", "wings", "brown wings", "wign"],
        ["branch", "branches", "tree branch", "brnach"],
    ],
    "giraffe": [
        ["neck", "long neck", "necks", "nek"],
        ["spots", "spotted pattern", "brown spots", "spts"],
        ["tree", "trees", "acacia", "treee"],
        ["head", "small head", "heads", "hed"],
        ["zebra", "zebras", "stripes", "zebar"],
        ["grass", "dry grass", "savanna", "gras"],
    ],
    "horses": [
        ["horse", "horses", "pony", "hores"],
        ["mane", "manes", "long mane", "mnae"],
        ["leg", "legs", "horse legs", "lges"],
        ["grass", "field", "meadow", "grss"],
        ["tail", "tails", "long tail", "tial"],
        ["fence", "fences", "wooden fence", "fense"],
    ],
    "kite": [
        ["kite", "kites", "flying kite", "kyte"],
        ["sky", "blue sky", "clouds", "skyy"],
        ["string", "kite string", "line", "strng"],
        ["person", "people", "man", "persn"],
        ["beach", "sand", "shore", "beech"],
        ["tail", "kite tail", "ribbon", "tale"],
    ],
    "person": [
        ["person", "man", "people", "persom"],
        ["horse", "horses", "pony", "hrose"],
        ["dog", "dogs", "puppy", "dgo"],
        ["face", "human face", "faces", "fcae"],
        ["shirt", "clothes", "jacket", "shrit"],
        ["grass", "field", "lawn", "grsas"],
    ],
}

# Non-answers, which cleaning drops.
NON_ANSWERS: tuple[str, ...] = (
    "idk",
    "no idea",
    "lol",
    "hmm",
    "dunno",
    "asdf",
    "qwerty",
    "???",
    "whatever",
    "random",
)

# Off-topic words, each from a different field, so that no two noise words are synonyms that
# could add up to a concept.
NOISE_WORDS: tuple[str, ...] = (
    "pizza",
    "homework",
    "monday",
    "blockchain",
    "taxes",
    "karaoke",
    "volcano",
    "spreadsheet",
    "jazz",
    "penguin",
    "submarine",
    "wifi",
    "skateboard",
    "sudoku",
    "violin",
    "cactus",
    "origami",
    "parliament",
    "algebra",
    "glacier",
    "pyjamas",
    "hiccup",
    "lottery",
    "sushi",
    "bowling",
    "typewriter",
    "dinosaur",
    "cinnamon",
    "satellite",
    "crossword",
    "haircut",
    "microwave",
    "passport",
    "elevator",
    "vaccine",
    "mortgage",
    "tornado",
    "poetry",
    "senator",
    "calendar",
    "bitcoin",
    "opera",
    "surgery",
    "harbour",
    "referee",
    "nostalgia",
    "democracy",
    "wedding",
    "laundry",
    "galaxy",
)

NOISE: tuple[str, ...] = NON_ANSWERS + NOISE_WORDS


def _form_weights(count: int, typo_weight: float = 0.08) -> list[float]:
    """Plain form 50%, the typo (last form) `typo_weight`, the variants share the rest."""
    if count < 3:
        return [1.0] * count
    variant = max(0.0, 1.0 - 0.5 - typo_weight) / (count - 2)
    return [0.5] + [variant] * (count - 2) + [typo_weight]


def labels_for(
    photo: str,
    rng: random.Random,
    *,
    noise_rate: float = 0.3,
    count: int = 2,
    typo_weight: float = 0.08,
) -> list[str]:
    """`count` labels a player might type about `photo`, each noise with probability noise_rate.

    Concepts are drawn with Zipf-like popularity (the first concepts are named more often); a
    concept is mostly written in its plain form, sometimes as a variant, rarely with the typo
    that ends each list.
    """
    concepts = VOCABULARY.get(photo, [])
    labels: list[str] = []
    for _ in range(count):
        if not concepts or rng.random() < noise_rate:
            labels.append(rng.choice(NOISE))
            continue
        weights = [1.0 / (rank + 1) for rank in range(len(concepts))]
        forms = rng.choices(concepts, weights=weights)[0]
        labels.append(rng.choices(forms, weights=_form_weights(len(forms), typo_weight))[0])
    return labels
