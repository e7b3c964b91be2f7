"""Noise cannot name a cluster: relative support, recurrence, copy-paste pairs and spammers."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from sqlmodel import select

from engine.labels.aggregation import (
    SupportRules,
    aggregate,
    copy_sources,
    first_votes,
)
from engine.labels.scores import Vote
from inv.settings import get_settings
from storage.crowd_quality import crowd_quality, summary_line
from storage.db import session_scope
from storage.models import ClusterStatus, Participant
from tests.labels.test_rebuild import DOG, L0, L1, dog_scenario
from tests.labels.world import World
from tests.shell import rebuild

EAR, FUR, EYE, MORTGAGE, PIZZA = 1, 2, 3, 50, 51
RULES = SupportRules(min_agreement=2, min_support=0.3, min_clusters=2)


class Crowd:
    """Builds votes: each `play` is one participant's labels on one cluster."""

    def __init__(self) -> None:
        self.votes: list[Vote] = []
        self.plays = 0

    def play(self, who: int, cluster: int, *concepts: int, trust: float = 1.0) -> None:
        self.plays += 1
        for concept in concepts:
            answer = len(self.votes) + 1
            self.votes.append(Vote(answer, self.plays, who, cluster, concept, trust, 0, True))


def passing(result: dict, cluster: int) -> set[int]:
    return set(result[cluster].scores) if cluster in result else set()


def test_two_players_sharing_a_stray_word_once_do_not_name_the_cluster() -> None:
    crowd = Crowd()
    crowd.play(1, 10, EAR, MORTGAGE, FUR)
    crowd.play(2, 10, EAR, MORTGAGE)  # a coincidence: both typed "mortgage" here
    crowd.play(3, 10, FUR)
    crowd.play(4, 11, EAR)
    crowd.play(5, 11, EAR, FUR)
    crowd.play(6, 11, FUR)
    result = aggregate(crowd.votes, RULES)
    # "mortgage" passes agreement on cluster 10 but never recurs on another cluster of the class.
    assert passing(result, 10) == passing(result, 11) == {EAR, FUR}
    # The old rule (two players on a cluster) let it through.
    loose = aggregate(crowd.votes, SupportRules(2, 0.0, 1))
    assert MORTGAGE in passing(loose, 10)


def test_support_is_relative_to_everyone_who_labelled_the_cluster() -> None:
    crowd = Crowd()
    for who in range(1, 11):  # ten players on cluster 10, two of them typed "pizza"
        crowd.play(who, 10, EAR, *((PIZZA,) if who <= 2 else ()))
        crowd.play(who, 11, EAR, *((PIZZA,) if who <= 2 else ()))
    result = aggregate(crowd.votes, RULES)
    assert passing(result, 10) == passing(result, 11) == {EAR}
    # Two of three is a real share.
    small = Crowd()
    for cluster in (10, 11):
        small.play(1, cluster, EAR)
        small.play(2, cluster, EAR)
        small.play(3, cluster, FUR)
    assert passing(aggregate(small.votes, RULES), 10) == {EAR}


def test_support_is_weighted_by_reliability() -> None:
    crowd = Crowd()
    for cluster in (10, 11):
        crowd.play(1, cluster, PIZZA, trust=0.1)
        crowd.play(2, cluster, PIZZA, trust=0.1)
        crowd.play(3, cluster, EAR, trust=0.9)
        crowd.play(4, cluster, EAR, FUR, trust=0.9)
    result = aggregate(crowd.votes, RULES)
    # pizza: 0.2 of 2.0 weight = 10%; ear 90%.
    assert passing(result, 10) == {EAR}
    unweighted = [replace(v, trust=1.0) for v in crowd.votes]
    assert PIZZA in passing(aggregate(unweighted, RULES), 10)


def test_a_copy_paste_pair_counts_as_one_player() -> None:
    crowd = Crowd()
    for cluster in (10, 11, 12):
        crowd.play(7, cluster, EAR, MORTGAGE)  # the partner's stray word...
        crowd.play(8, cluster, EAR, MORTGAGE)  # ...pasted by the follower, every time
        crowd.play(9, cluster, EAR, FUR)
    sources = copy_sources(first_votes(crowd.votes))
    assert sources[7] == sources[8] != sources[9]
    result = aggregate(crowd.votes, RULES)
    assert all(passing(result, c) == {EAR} for c in (10, 11, 12))
    assert result[10].labellers == 2


def test_players_who_merely_agree_sometimes_stay_independent() -> None:
    crowd = Crowd()
    crowd.play(1, 10, EAR)
    crowd.play(2, 10, EAR)
    crowd.play(1, 11, EAR, FUR)
    crowd.play(2, 11, FUR)
    crowd.play(1, 12, EYE)
    crowd.play(2, 12, EAR)
    sources = copy_sources(first_votes(crowd.votes))
    assert sources[1] != sources[2]


def test_settledness_is_the_lead_of_the_top_concept() -> None:
    crowd = Crowd()
    for cluster in (10, 11):
        crowd.play(1, cluster, EAR)
        crowd.play(2, cluster, EAR)
        crowd.play(3, cluster, EAR, *((FUR,) if cluster == 11 else ()))
        crowd.play(4, cluster, FUR if cluster == 11 else EYE)
    crowd.play(1, 12, FUR)
    crowd.play(2, 12, FUR, EYE)
    result = aggregate(crowd.votes, RULES)
    assert result[10].top_share == pytest.approx(0.75) and result[10].margin == pytest.approx(0.75)
    assert result[11].margin == pytest.approx(0.25)  # ear 3/4 against fur 2/4


def test_labels_and_aggregation_never_import_the_simulator() -> None:
    """Only the simulator knows which words are noise; the aggregation must judge without it."""
    code = (
        "import sys\n"
        "import engine.labels, engine.labels.aggregation, engine.labels.ability\n"
        "import engine.labels.scores, engine.labels.agreement, engine.rebuild\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('inv.demo', 'torch')))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_rebuild_stores_abilities_settledness_and_agreement(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default reliability, a rebuild estimates every player's ability, stores each
    cluster's settledness and each layer's alpha, and the summary reads them back."""
    scenario = dog_scenario(world)
    monkeypatch.setenv("RELIABILITY", "ability")
    monkeypatch.setenv("MIN_AGREEMENT", "2")
    get_settings.cache_clear()
    report = rebuild()
    assert report.ok, report.error
    p1, p2, p3 = scenario["participants"]
    with session_scope(world.engine, readonly=True) as s:
        people = {p.id: p for p in s.exec(select(Participant)).all()}
        # P2 guessed right four times out of four, P3 wrong once in two: ranked accordingly.
        assert all(people[p].ability is not None for p in (p1, p2, p3))
        assert people[p2].ability > people[p1].ability and people[p2].ability > people[p3].ability
        assert people[p2].trust > 0.5
        statuses = {c.cluster_id: c for c in s.exec(select(ClusterStatus)).all()}
        labelled = {world.cluster(DOG, 0, L1, r) for r in (0, 1)} | {
            world.cluster(DOG, 1, L1, 0),
            world.cluster(DOG, 1, L1, 1),
            world.cluster(DOG, 1, L0, 0),
        }
        assert set(statuses) == labelled
        # ear (A's clusters) and tail (B's first) have two players each and no rival: settled;
        # the clusters one player labelled are not.
        settled = {c for c, st in statuses.items() if st.settled}
        assert settled == {
            world.cluster(DOG, 0, L1, 0),
            world.cluster(DOG, 0, L1, 1),
            world.cluster(DOG, 1, L1, 0),
        }
        quality = crowd_quality(s)
    layer = next(r for r in quality["agreement"]["per_class_layer"] if r["layer_name"] == L1)
    assert layer["clusters"] == 4 and layer["settled"] == 3
    assert layer["alpha_masi"] is not None and -1 <= layer["alpha_masi"] <= 1
    assert quality["settled"] == {"clusters": 5, "settled": 3, "share": 0.6}
    assert quality["reliability"]["source"] == "ability from every play"
    assert sum(b["players"] for b in quality["reliability"]["bins"]) == 3
    line = summary_line(quality)
    assert "alpha (MASI)" in line and "60% of 5 labelled clusters settled" in line


def test_copy_pairs_are_found_anywhere_in_a_cluster_at_four_fifths_identical() -> None:
    crowd = Crowd()
    # Players 1 and 3 give the same set on 4 of the 5 clusters they share; 2 and 4 stand between
    # them in every cluster's list of labellers.
    for cluster in (10, 11, 12, 13, 14):
        crowd.play(1, cluster, EAR)
        crowd.play(2, cluster, FUR)
        crowd.play(3, cluster, EAR if cluster != 14 else EYE)
        crowd.play(4, cluster, PIZZA)
    assert copy_sources(first_votes(crowd.votes)) == {1: 1, 2: 2, 3: 1, 4: 4}
    # A sixth shared cluster where they differ: 4 of 6 is below four fifths.
    crowd.play(1, 15, EAR)
    crowd.play(3, 15, FUR)
    assert copy_sources(first_votes(crowd.votes)) == {1: 1, 2: 2, 3: 3, 4: 4}


def _vote(answer: int, who: int, concept: int, trust: float, level: int = 0) -> Vote:
    return Vote(answer, answer, who, 10, concept, trust, level, True)


LOOSE = SupportRules(min_agreement=2, min_support=0.3, min_clusters=1)


def test_given_sources_count_once_with_their_most_reliable_vote() -> None:
    votes = [
        _vote(1, 1, EAR, 0.9),
        _vote(2, 2, EAR, 0.3),  # same source as player 1, less reliable, later
        _vote(3, 3, FUR, 0.6),
        _vote(4, 4, FUR, 0.6),
        _vote(5, 5, EAR, 0.6),
    ]
    # Players 1 and 2 are one source; 3, 4 and 5, absent from `sources`, are each their own.
    result = aggregate(votes, LOOSE, sources={1: 1, 2: 1})[10]
    assert result.labellers == 4
    # Weights: source 1 → 0.9, the others 0.6; total 2.7. EAR 0.9 + 0.6, FUR 0.6 + 0.6.
    assert result.scores == {EAR: pytest.approx(1.5), FUR: pytest.approx(1.2)}
    assert result.top_share == pytest.approx(1.5 / 2.7)
    assert result.margin == pytest.approx(0.3 / 2.7)


def test_a_sources_equally_reliable_votes_count_by_the_first() -> None:
    # One source's two votes for EAR at the same trust: the first (hint level 0) counts, not the
    # later one at level 4.
    votes = [_vote(1, 1, EAR, 0.5), _vote(2, 2, EAR, 0.5, level=4), _vote(3, 3, EAR, 0.5)]
    result = aggregate(votes, LOOSE, sources={1: 1, 2: 1, 3: 3})[10]
    assert result.scores == {EAR: pytest.approx(1.0)}  # f = 1.0, mean level 0


def test_a_share_exactly_at_min_support_passes_and_no_weight_passes_nothing() -> None:
    rules = SupportRules(min_agreement=2, min_support=0.5, min_clusters=1)
    at = [_vote(1, 1, EAR, 0.25), _vote(2, 2, EAR, 0.25), _vote(3, 3, FUR, 0.25)]
    at.append(_vote(4, 4, EYE, 0.25))
    assert set(aggregate(at, rules, sources={})[10].scores) == {EAR}  # 0.5 of 1.0
    below = [*at, _vote(5, 5, PIZZA, 0.25)]
    assert aggregate(below, rules, sources={})[10].scores == {}  # 0.5 of 1.25
    untrusted = [_vote(1, 1, EAR, 0.0), _vote(2, 2, EAR, 0.0)]
    result = aggregate(untrusted, rules, sources={})[10]
    assert result.scores == {} and result.top_share == 0.0
