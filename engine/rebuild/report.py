"""What a rebuild returns: what it did, how long each stage took, which classes failed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RebuildReport:
    ran: bool  # False: another rebuild held the lock
    generation: int | None = None  # the current generation afterwards
    classes_rebuilt: list[int] = field(default_factory=list)
    answers: int = 0  # answers of the rebuilt classes that map to a concept
    concepts: int = 0  # concepts of the rebuilt classes
    embedded: int = 0  # phrases run through Sentence-BERT (new to the cache)
    charts: int = 0  # PNG files drawn (charts whose content did not change are not redrawn)
    seconds: float = 0.0
    full: bool = False
    error: str | None = None
    # seconds per stage: prepare, load, clean, embed, group, score, tcav, charts, switch
    timings: dict[str, float] = field(default_factory=dict)
    embed_seconds: float = 0.0  # Sentence-BERT encoding time of the new phrases
    # class index → exception class of the classes that failed (their previous rows carried)
    failed: dict[int, str] = field(default_factory=dict)
    new_failures: dict[int, str] = field(default_factory=dict)  # not failing in the previous one
    concept_tests: int = 0  # concepts marked by the TCAV stage
    concept_tests_skipped: str | None = None  # why the stage could not ask the network

    @property
    def ok(self) -> bool:
        return self.ran and self.error is None

    def summary(self) -> str:
        if not self.ran:
            return "Another rebuild is running; nothing done."
        if self.error:
            return f"Rebuild failed after {self.seconds:.1f} s: {self.error}"
        failed = ""
        if self.failed:
            listed = ", ".join(f"{c} ({e})" for c, e in sorted(self.failed.items())[:12])
            failed = f" Failed, previous results kept: {listed}."
        if not self.classes_rebuilt:
            gen = f"generation {self.generation}" if self.generation else "no generation yet"
            return f"Nothing new to rebuild ({gen}, {self.seconds:.1f} s).{failed}"
        classes = ", ".join(str(c) for c in self.classes_rebuilt[:12])
        if len(self.classes_rebuilt) > 12:
            classes += ", …"
        return (
            f"Generation {self.generation}: {len(self.classes_rebuilt)} classes rebuilt ({classes}); "
            f"{self.answers:,} answers, {self.concepts:,} concepts, {self.embedded:,} new phrases "
            f"embedded, {self.charts:,} charts, {self.seconds:.1f} s.{failed}"
        )
