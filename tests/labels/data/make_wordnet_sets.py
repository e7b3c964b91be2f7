"""Generate the WordNet evaluation sets: crowd-style replies for WordNet noun synsets.

    python tests/labels/data/make_wordnet_sets.py      # rewrites wordnet_train.tsv, wordnet_heldout.tsv

Provenance: Princeton WordNet 3.0 as packaged by Debian (`wordnet-base`, /usr/share/wordnet);
word commonness from the `wordfreq` package. Each group is one synset of concrete things (animals,
artefacts, body parts, food, natural objects, plants, substances) with at least two common one-word
lemmas,
so a group holds real synonyms ("car", "automobile"). Every lemma is typed plain, as an inflection,
wrapped in fillers and hedges ("maybe …", "something like a …", "… on the left"), with size and
quantity words ("small …", "a few …"), and misspelt (a swap of neighbours, a dropped, doubled or
wrong letter). The synsets are split between the two files by a hash of their offset, so the sets
share no group; the seed makes every run write the same files.

Lemmas that name more than one chosen synset are dropped (the truth would be ambiguous), and a
lemma is used only for a synset among its two commonest senses (what a player means by the word).
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from engine.labels.lexicon import open_wordnet  # noqa: E402

SEED = 15
LEXFILES = {5, 6, 8, 13, 17, 20, 27}  # animal, artifact, body, food, object, plant, substance
MIN_ZIPF = 3.0  # lemmas at least this common (wordfreq's Zipf scale: 3 ≈ once per million words)
GROUPS_PER_SET = 40
# Senses whose gloss says they are slurs or obscene are no crowd answers worth a test.
UNFIT = ("obscene", "vulgar", "offensive", "slang", "disparaging")
FILLERS = [
    "maybe {w}",
    "something like a {w}",
    "{w} on the left",
    "the {w} in the middle",
    "a {w} i think",
    "some kind of {w}",
    "{w} at the top",
    "looks like {w}",
]
MODIFIERS = ["small {w}", "big {w}", "tiny {w}", "a few {p}", "two {p}", "large {w}", "lots of {p}"]


def plural(word: str, irregular: dict[str, str]) -> str:
    if word in irregular:
        return irregular[word]
    head, _, last = word.rpartition(" ")
    prefix = head + " " if head else ""
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + last + "es"
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return prefix + last[:-1] + "ies"
    return prefix + last + "s"


def typo(word: str, rng: random.Random) -> str | None:
    """One crowd-like misspelling of the longest word of a lemma, or None for short words."""
    parts = word.split()
    target = max(range(len(parts)), key=lambda i: len(parts[i]))
    w = parts[target]
    if len(w) < 5:
        return None
    i = rng.randrange(1, len(w) - 1)
    kind = rng.choice(["swap", "drop", "double", "wrong"])
    if kind == "swap" and w[i] != w[i + 1 if i + 1 < len(w) else i]:
        j = min(i, len(w) - 2)
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == "drop":
        w = w[:i] + w[i + 1 :]
    elif kind == "double":
        w = w[:i] + w[i] + w[i:]
    else:
        keys = "qwertyuiopasdfghjklzxcvbnm"
        w = w[:i] + rng.choice([c for c in keys if c != w[i]]) + w[i + 1 :]
    parts[target] = w
    out = " ".join(parts)
    return out if out != word else None


def candidate_synsets(wn, zipf) -> list[tuple[int, list[str]]]:
    data = (wn.root / "data.noun").read_text(encoding="utf-8", errors="replace").splitlines()
    found: list[tuple[int, list[str]]] = []
    for line in data:
        if line.startswith(" ") or any(word in line.split(" | ", 1)[-1] for word in UNFIT):
            continue
        synset = wn.synset(int(line.split(" ", 1)[0]))
        if synset.lexfile not in LEXFILES:
            continue
        lemmas = [
            lemma
            for lemma in dict.fromkeys(synset.lemmas)
            if lemma.isalpha()
            and lemma.islower()
            and zipf(lemma, "en") >= MIN_ZIPF
            and synset.offset in wn.senses(lemma)[:2]
        ]
        if len(lemmas) >= 2:
            found.append((synset.offset, lemmas))
    return found


def replies_for(lemmas: list[str], rng: random.Random, irregular: dict[str, str]) -> list[tuple]:
    out: list[tuple[str, str]] = []
    first = lemmas[0]
    out.append((first, "plain"))
    out.append((first, "plain"))
    for lemma in lemmas[1:3]:
        out.append((lemma, "synonym"))
    for lemma in rng.sample(lemmas, min(2, len(lemmas))):
        out.append((plural(lemma, irregular), "inflection"))
    for template in rng.sample(FILLERS, 2):
        out.append((template.format(w=rng.choice(lemmas)), "filler"))
    lemma = rng.choice(lemmas)
    out.append((rng.choice(MODIFIERS).format(w=lemma, p=plural(lemma, irregular)), "filler"))
    for lemma in rng.sample(lemmas, min(2, len(lemmas))):
        misspelt = typo(lemma, rng)
        if misspelt:
            out.append((misspelt, "typo"))
    return out


def main() -> None:
    from wordfreq import zipf_frequency

    wn = open_wordnet()
    if wn is None:
        raise SystemExit("WordNet files not found (install Debian's wordnet-base)")
    irregular: dict[str, str] = {}
    for line in (wn.root / "noun.exc").read_text().splitlines():
        form, base = line.split()[:2]
        irregular.setdefault(base.replace("_", " "), form.replace("_", " "))
    candidates = candidate_synsets(wn, zipf_frequency)
    # Lemmas shared by two candidate synsets would make the truth ambiguous: drop them.
    owners: dict[str, int] = {}
    for _, lemmas in candidates:
        for lemma in lemmas:
            owners[lemma] = owners.get(lemma, 0) + 1
    candidates = [
        (offset, kept)
        for offset, lemmas in candidates
        if len(kept := [lemma for lemma in lemmas if owners[lemma] == 1]) >= 2
    ]
    rng = random.Random(SEED)
    rng.shuffle(candidates)
    splits: dict[str, list[tuple[int, list[str]]]] = {"train": [], "heldout": []}
    for offset, lemmas in candidates:
        bucket = "heldout" if hashlib.sha256(str(offset).encode()).digest()[0] % 2 else "train"
        if len(splits[bucket]) < GROUPS_PER_SET:
            splits[bucket].append((offset, lemmas))
    for name, chosen in splits.items():
        rows = []
        for offset, lemmas in sorted(chosen):
            group = f"{lemmas[0]}.{offset:08d}"
            rows.extend((text, group, kind) for text, kind in replies_for(lemmas, rng, irregular))
        path = HERE / f"wordnet_{name}.tsv"
        with path.open("w", encoding="utf-8") as handle:
            handle.write("# reply\tgroup (first lemma.synset offset)\tkind\n")
            for row in rows:
                handle.write("\t".join(row) + "\n")
        print(f"{path.name}: {len(rows)} replies, {len(chosen)} groups")


if __name__ == "__main__":
    main()
