"""The rebuild benchmark's synthetic collection and crowd (also used by `rebuild_in_bot.py`).

The collection comes from the one synthetic-collection factory (`testkit.collection`), at the
real layers of a real, loadable classifier: torchvision's EfficientNet-B0 with seeded random
weights saved to a local file, so that the rebuild's TCAV stage loads it and runs its pass. The
crowd: players with trusts between 0.3 and 0.95 and about two labels per play; each class has its
own phrases ("adjective noun", unique across classes), drawn with a Zipf-like frequency and typed
in crowd-like variants, so cleaning, grouping and merging all have work to do.
"""

from __future__ import annotations

import random
from pathlib import Path

NOUNS = """
wheel tire door window roof ear eye nose tail paw leg wing beak feather fur whisker tooth
collar handle screen keyboard button lamp mirror seat pedal chain bell horn hood trunk
branch leaf flower petal stem root bark grass sky cloud water wave sand rock stone
road fence wall brick tile floor carpet table chair bottle cup plate bowl spoon fork knife
string knob dial lever pipe cable wire strap buckle zipper pocket sleeve hat shoe boot glove
scarf belt badge label sign letter arrow circle stripe spot dot line edge corner
frame panel grill bumper antenna mast sail rope anchor hull deck cabin chimney tower
dome arch column stair railing gate bridge tunnel track rail engine motor propeller blade
fin scale shell claw antler mane hoof snout muzzle jaw lip tongue cheek forehead neck
shoulder belly chest hip knee elbow finger thumb nail hair beard eyebrow eyelash
""".split()  # noqa: SIM905 - a word list reads better as text
ADJECTIVES = """
red blue green yellow black white grey brown orange pink purple golden silver dark bright
shiny dull rough smooth soft hard round square long short thin thick tall small big tiny
huge wet dry dirty clean old new broken rusty wooden metal plastic glass furry fluffy
striped spotted curly straight sharp blunt flat curved pointy narrow wide heavy muddy sandy
rocky grassy snowy icy frozen hot cold warm cracked painted polished glossy faded torn bent
twisted folded hairy scaly leafy transparent wavy jagged sparkly glowing hollow solid fuzzy
wrinkled spiky bumpy tangled blurry colorful vivid pale
""".split()  # noqa: SIM905
CLASSES = [
    "tench", "springer", "cassette", "chainsaw", "church", "trumpet", "truck", "pump",
    "golf ball", "parachute", "tabby", "beagle", "goldfish", "pelican", "tractor", "lighthouse",
    "violin", "umbrella", "volcano", "strawberry",
]  # fmt: skip
ARCHITECTURE = "efficientnet_b0"  # torchvision; its nine default layers are explained
IMAGES_PER_CLASS = 10
CLUSTERS_PER_LAYER = 4
PARTICIPANTS = 2000


def _variant(rng: random.Random, adjective: str, noun: str, class_name: str) -> str:
    """How a player might type "adjective noun"."""
    roll = rng.random()
    if roll < 0.55:
        return f"{adjective} {noun}"
    if roll < 0.70:
        return f"{adjective} {noun}s"
    if roll < 0.78:
        return f"{adjective.capitalize()} {noun}"
    if roll < 0.86:
        return f"something like a {adjective} {noun}"
    if roll < 0.93:
        return f"{adjective} {noun} on the left"
    return f"the {class_name}'s {adjective} {noun}"


def _class_phrases(
    n_classes: int, per_class: int, rng: random.Random
) -> list[list[tuple[str, str]]]:
    """Per class, `per_class` (adjective, noun) pairs, no pair used by two classes."""
    nouns = sorted(set(NOUNS))
    adjectives = sorted(set(ADJECTIVES))
    free = {noun: list(adjectives) for noun in nouns}
    result = []
    per_noun = 20
    for _ in range(n_classes):
        pairs: list[tuple[str, str]] = []
        # Nouns with the most unused adjectives first, so that no pair is used twice.
        order = sorted(nouns, key=lambda n: (-len(free[n]), rng.random()))
        for noun in order:
            if len(pairs) >= per_class:
                break
            rng.shuffle(free[noun])
            take = min(per_noun, per_class - len(pairs), len(free[noun]))
            pairs.extend((free[noun].pop(), noun) for _ in range(take))
        result.append(pairs)
    return result


def bench_model(folder: Path, seed: int) -> tuple[Path, str, list[str], list[int], list[int]]:
    """Seeded random EfficientNet-B0 weights in a local file: its path and hash, and the default
    layers with their channels and sides at 224 pixels."""
    import torch
    import torchvision.models as tvm

    from engine.classifiers import sha256_of_file
    from engine.hooks import capture_activations
    from engine.layers import default_layers

    torch.manual_seed(seed)
    model = tvm.get_model(ARCHITECTURE, weights=None).eval()
    path = folder / f"bench-{ARCHITECTURE}-seed{seed}.pt"
    torch.save(model.state_dict(), path)
    layers = default_layers(model)
    with torch.no_grad(), capture_activations(model, layers) as capture:
        model(torch.zeros(1, 3, 224, 224))
        shapes = [tuple(a.shape) for a in capture.ordered()]
    return path, sha256_of_file(path), layers, [s[1] for s in shapes], [s[2] for s in shapes]


def generate(data_dir: Path, n_answers: int, n_phrases: int, n_classes: int, seed: int = 1) -> dict:
    """Insert the synthetic collection and crowd; returns what the incremental step needs."""
    from sqlalchemy import insert

    from storage.db import get_engine, session_scope
    from storage.migrate import upgrade
    from storage.models import Answer, Cluster, Participant, Play
    from testkit.collection import seed_collection

    rng = random.Random(seed)
    engine = get_engine()
    upgrade(engine)
    classes = CLASSES[:n_classes]
    per_class = max(1, n_phrases // n_classes)
    phrases = _class_phrases(n_classes, per_class, rng)
    weights, weights_hash, layers, channels, sides = bench_model(data_dir.parent, seed)
    with session_scope(engine) as s:
        seed_collection(
            s, data_dir, images=n_classes * IMAGES_PER_CLASS, layers=len(layers),
            clusters_per_layer=CLUSTERS_PER_LAYER, classes=classes, size=224, layer_sides=sides,
            gold_every=0, seed=seed, model_name=ARCHITECTURE, weights_hash=weights_hash,
            layer_names=layers, layer_channels=channels, photos=True, blob_maps=True,
        )  # fmt: skip
        participants = [
            dict(telegram_id=10_000 + i, pseudonym=f"bench{i}", trust=rng.uniform(0.3, 0.95))
            for i in range(PARTICIPANTS)
        ]
        s.execute(insert(Participant.__table__), participants)
    with engine.connect() as conn:
        from sqlalchemy import select

        clusters = conn.execute(
            select(Cluster.__table__.c.id, Cluster.__table__.c.class_index)
        ).all()
        people = conn.execute(select(Participant.__table__.c.id)).scalars().all()
    by_class: dict[int, list[int]] = {}
    for cid, c in clusters:
        by_class.setdefault(c, []).append(cid)
    # Each cluster "shows" a few of its class's nouns; players mostly name those.
    nouns_of: dict[int, list[int]] = {}
    for cid, c in clusters:
        nouns_of[cid] = rng.sample(range(len(phrases[c])), min(6, len(phrases[c])))
    zipf = [1.0 / (i + 1) ** 0.9 for i in range(per_class)]
    sizes = [len(p) for p in phrases]

    def one_play(pid: int, cid: int, c: int, labels: int) -> tuple[dict, list[dict]]:
        hint = rng.choice([0, 0, 1, 1, 2, 3, 4, 5])
        correct = rng.random() < 0.8
        outcome = "win" if correct else ("lose" if rng.random() < 0.85 else "resign")
        play = dict(
            participant_id=pid, cluster_id=cid, stage="done", outcome=outcome, hint_level=hint,
            guessed_class=c if correct else (c + 1) % n_classes, correct=correct,
            guess_points=round(100 * (1 - 0.1 * hint)) if correct else 0, options=[],
        )  # fmt: skip
        answers = []
        for _ in range(labels):
            if rng.random() < 0.7:
                index = rng.choice(nouns_of[cid])
            else:
                index = rng.choices(range(sizes[c]), weights=zipf[: sizes[c]])[0]
            adjective, noun = phrases[c][index]
            label = _variant(rng, adjective, noun, classes[c])
            answers.append(
                dict(raw_message=label, label=label, normalized=label.lower(), hint_level=hint,
                     bonus_points=0, accepted=True)
            )  # fmt: skip
        return play, answers

    def insert_plays(items: list[tuple[dict, list[dict]]]) -> None:
        with session_scope(engine) as s:
            for start in range(0, len(items), 5000):
                chunk = items[start : start + 5000]
                ids = s.execute(
                    insert(Play.__table__).returning(Play.__table__.c.id), [p for p, _ in chunk],
                    ).scalars().all()  # fmt: skip
                rows = [
                    dict(a, play_id=pid)
                    for pid, (_, answers) in zip(ids, chunk, strict=True)
                    for a in answers
                ]
                s.execute(insert(Answer.__table__), rows)

    taken: set[tuple[int, int]] = set()
    items = []
    total = 0
    while total < n_answers:
        c = rng.randrange(n_classes)
        cid = rng.choice(by_class[c])
        pid = rng.choice(people)
        if (pid, cid) in taken:
            continue
        taken.add((pid, cid))
        labels = min(rng.choice([1, 2, 2, 3]), n_answers - total)
        items.append(one_play(pid, cid, c, labels))
        total += labels
    insert_plays(items)
    return {
        "by_class": by_class,
        "people": people,
        "taken": sorted(taken),
        "seed": seed,
        "weights": str(weights),
    }


def new_answers(state: dict, n_answers: int, classes: tuple[int, int]) -> int:
    """`n_answers` new answers over two classes, from new plays (same phrase pools)."""
    from sqlalchemy import insert

    from storage.db import get_engine, session_scope
    from storage.models import Answer, Play

    rng = random.Random(state["seed"] + 99)
    taken = {tuple(t) for t in state["taken"]}
    engine = get_engine()
    total = plays = 0
    with session_scope(engine) as s:
        while total < n_answers:
            c = classes[plays % 2]
            cid = rng.choice(state["by_class"][c])
            pid = rng.choice(state["people"])
            if (pid, cid) in taken:
                continue
            taken.add((pid, cid))
            play_id = s.execute(
                insert(Play.__table__).returning(Play.__table__.c.id),
                [dict(participant_id=pid, cluster_id=cid, stage="done", outcome="win", hint_level=1,
                      guessed_class=c, correct=True, guess_points=90, options=[])],
            ).scalar_one()  # fmt: skip
            labels = [f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" for _ in range(2)]
            s.execute(
                insert(Answer.__table__),
                [dict(play_id=play_id, raw_message=", ".join(labels), label=label,
                      normalized=label, hint_level=1, bonus_points=0, accepted=True)
                 for label in labels],
            )  # fmt: skip
            total += len(labels)
            plays += 1
    return total
