"""The tables as SQLAlchemy Core `Table` objects, one name each, for set-based statements.

The rebuild, forgetting a participant and the points recompute insert and update thousands of
rows at once, which Core statements do without loading ORM objects. They all use these names.
"""

from __future__ import annotations

from storage.models import (
    Answer,
    AnswerConcept,
    Cluster,
    ClusterStatus,
    Concept,
    ConceptTest,
    Export,
    Generation,
    GlobalExplanation,
    Image,
    JobLock,
    MergedCluster,
    Model,
    Participant,
    PhraseEmbedding,
    Play,
)

T_ANSWER = Answer.__table__
T_PLAY = Play.__table__
T_PART = Participant.__table__
T_CLUSTER = Cluster.__table__
T_IMAGE = Image.__table__
T_MODEL = Model.__table__
T_CONCEPT = Concept.__table__
T_CT = ConceptTest.__table__
T_AC = AnswerConcept.__table__
T_MC = MergedCluster.__table__
T_GE = GlobalExplanation.__table__
T_GEN = Generation.__table__
T_LOCK = JobLock.__table__
T_EMBED = PhraseEmbedding.__table__
T_EXPORT = Export.__table__
T_STATUS = ClusterStatus.__table__
