"""The typed result of `indexes suggest`: statements, suggestions and what was skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Statement:
    """One statement of the workload, as read (normalized text with $n when it came from pg_stat_statements)."""

    id: int
    sql: str
    source: str                 # "pg_stat_statements" or "file"
    calls: int = 1
    total_ms: float | None = None
    mean_ms: float | None = None
    plan_mode: str = ""         # how it was planned (generic plan, forced generic plan, literal values)
    cost_before: float | None = None
    cost_after: float | None = None
    served_by: list[str] = field(default_factory=list)   # suggestion names
    note: str = ""


@dataclass
class ExistingRelation:
    """How an index that already exists relates to a suggestion (same keys, or a prefix either way)."""

    index: str
    relation: str               # "duplicate", "existing_is_prefix", "suggestion_is_prefix", "same_keys_partial"
    detail: str


@dataclass
class Suggestion:
    name: str
    schema: str
    table: str
    method: str                              # btree or gin
    keys: list[str]                          # spec key parts: "user_id", "created_at DESC", "title gin_trgm_ops"
    opclass: str | None = None               # gin_trgm_ops for trigram candidates
    kind: str = ""                           # equality, range, join, sort, trigram (what made it)
    statements: list[int] = field(default_factory=list)
    cost_before: float = 0.0                 # summed over the statements it serves
    cost_after: float = 0.0
    size_bytes: int | None = None
    size_note: str = ""
    existing: list[ExistingRelation] = field(default_factory=list)
    ddl: str = ""
    queries: list[dict] = field(default_factory=list)        # {name, sql, params} for the spec
    query_notes: list[str] = field(default_factory=list)     # why a served statement is not among them

    @property
    def gain(self) -> float:
        return self.cost_before / self.cost_after if self.cost_after > 0 else float("inf")


@dataclass
class Skipped:
    reason: str                 # "unparseable", "unplannable", "not_user_tables", "insufficient_privilege"
    sql: str
    detail: str = ""


@dataclass
class SuggestResult:
    database: str
    source: str                              # "pg_stat_statements" or the --queries file
    method: str                              # "hypopg" or "what-if copy"
    server_version: int
    statements: list[Statement] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    candidates_tried: int = 0
    not_evaluated: list[str] = field(default_factory=list)   # candidates the method cannot model
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {"database": self.database, "source": self.source, "method": self.method,
                "server_version": self.server_version, "seconds": round(self.seconds, 3),
                "candidates_tried": self.candidates_tried,
                "suggestions": [{**asdict(s), "gain": None if s.cost_after <= 0 else round(s.gain, 2)}
                                for s in self.suggestions],
                "statements": [asdict(s) for s in self.statements],
                "skipped": self.skipped_counts(), "skipped_statements": [asdict(s) for s in self.skipped],
                "not_evaluated": self.not_evaluated, "notes": self.notes}
