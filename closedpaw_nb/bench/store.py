"""`RunStore`: benchmark rows in SQLite, written as calls finish.

Rows are committed as soon as they finish (WAL journal; the benchmark runner commits
the rows of one event-loop turn together), so a kernel interrupt or a killed process
loses no call it reported finished, and a resumed run can ask which calls are done. The
primary key (run_id, target, prompt_id, trial, warmup) makes a duplicate row
impossible, whatever happens around it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BATTLE_FIELDS",
    "JUDGE_CALL_FIELDS",
    "ROW_FIELDS",
    "SCORE_FIELDS",
    "VOTE_FIELDS",
    "RunStore",
    "default_output_dir",
    "default_store_path",
]

ROW_FIELDS = (
    "run_id",
    "target",
    "provider",
    "model",
    "prompt_id",
    "prompt",
    "trial",
    "warmup",
    "ok",
    "error_type",
    "error",
    "status_code",
    "attempts",
    "started_at",
    "ttft_ms",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_s",
    "finish_reason",
    "response",
    "cost_usd",
    "tool_calls",
    "parsed",
    "schema_valid",
    "usage_source",
)
KEY_FIELDS = ("target", "prompt_id", "trial", "warmup")
# One row per call x scorer (evaluations): the score, what it read from the answer, and why,
# and for a model judge the key of its own call in `judge_calls`.
SCORE_FIELDS = ("run_id", "target", "prompt_id", "trial", "scorer", "value", "answer", "explanation", "judge_call")
# One row per distinct model-judge call, keyed by a hash of (judge target, judge prompt): the
# verdict cache that makes re-scoring free, in any process that opens the same store.
JUDGE_CALL_FIELDS = (
    "key",
    "judge",
    "provider",
    "model",
    "local",
    "reply",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
)
# Arena battles: two targets' answers (rows of `run_id`) to one item; `shown_first` is the
# target the voter sees as "A" (randomised per battle, seeded).
BATTLE_FIELDS = ("arena_id", "battle_id", "run_id", "prompt_id", "trial", "target_a", "target_b", "shown_first")
# One vote per battle and voter (a person's name, or "judge:<provider:model>"): the verdict in
# the battle's own terms (a, b, tie, both_bad; NULL: missing, with its reason), the order shown,
# and for a judge whether its two verdicts (answers swapped) agreed.
VOTE_FIELDS = ("arena_id", "battle_id", "voter", "verdict", "shown_a", "shown_b", "reason", "consistent", "cast_at")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    {", ".join(ROW_FIELDS)},
    PRIMARY KEY (run_id, target, prompt_id, trial, warmup)
);
CREATE TABLE IF NOT EXISTS scores (
    {", ".join(SCORE_FIELDS)},
    PRIMARY KEY (run_id, target, prompt_id, trial, scorer)
);
CREATE TABLE IF NOT EXISTS judge_calls (
    {", ".join(JUDGE_CALL_FIELDS)},
    PRIMARY KEY (key)
);
CREATE TABLE IF NOT EXISTS battles (
    {", ".join(BATTLE_FIELDS)},
    PRIMARY KEY (arena_id, battle_id)
);
CREATE TABLE IF NOT EXISTS votes (
    {", ".join(VOTE_FIELDS)},
    PRIMARY KEY (arena_id, battle_id, voter)
);
"""


def default_output_dir() -> Path:
    """Where exports and charts go unless told otherwise (not created until something is
    written): $CLOSEDPAW_OUTPUT_DIR when set, else `closedpaw_nb` in the user's documents
    folder (~/Documents/closedpaw_nb on Linux and macOS), never the notebooks folder."""
    import os

    from platformdirs import user_documents_dir

    return Path(os.environ.get("CLOSEDPAW_OUTPUT_DIR") or Path(user_documents_dir()) / "closedpaw_nb")


def default_store_path() -> Path:
    """`runs.sqlite` in the user's data directory (created on demand)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("closedpaw_nb")) / "runs.sqlite"


class RunStore:
    """A SQLite file of benchmark runs and their rows.

    Args:
        path: The database file; default `default_store_path()`; ":memory:" for a
            throwaway store (compare() uses one).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else str(default_store_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the runner thread and the caller's thread, serialised here.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a committed row survives a process crash; only an OS crash
            # or power loss could lose the last commits.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._add_missing_columns("scores", SCORE_FIELDS)
            self._add_missing_columns("rows", ROW_FIELDS)

    def _add_missing_columns(self, table: str, fields: tuple[str, ...]) -> None:
        # A store written by an older release lacks the newer columns; adding them keeps its rows.
        have = {record[1] for record in self._db.execute(f"PRAGMA table_info({table})")}
        for name in fields:
            if name not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name}")

    def create_run(self, run_id: str, manifest: Mapping[str, Any]) -> None:
        """Record a new run and its manifest (an existing run keeps its rows)."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (run_id, created_at, status, manifest) VALUES (?, ?, 'running', ?) "
                "ON CONFLICT(run_id) DO UPDATE SET status='running', manifest=excluded.manifest",
                (run_id, now, json.dumps(manifest, default=str)),
            )

    def set_status(self, run_id: str, status: str, manifest: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            if manifest is None:
                self._db.execute("UPDATE runs SET status=? WHERE run_id=?", (status, run_id))
            else:
                self._db.execute(
                    "UPDATE runs SET status=?, manifest=? WHERE run_id=?",
                    (status, json.dumps(manifest, default=str), run_id),
                )

    def write_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Commit rows in one transaction; returns how many were new (not yet recorded)."""
        return self._insert("rows", ROW_FIELDS, rows, "INSERT OR IGNORE")

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        """Every row of a run, in the order they finished."""
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {', '.join(ROW_FIELDS)} FROM rows WHERE run_id=? ORDER BY rowid", (run_id,)
            )
            records = cursor.fetchall()
        return [_from_sql(dict(zip(ROW_FIELDS, record, strict=False))) for record in records]

    def done_keys(self, run_id: str) -> set[tuple[Any, ...]]:
        """(target, prompt_id, trial, warmup) of every call already recorded."""
        with self._lock:
            records = self._db.execute(f"SELECT {', '.join(KEY_FIELDS)} FROM rows WHERE run_id=?", (run_id,)).fetchall()
        return {(t, p, int(n), bool(w)) for t, p, n, w in records}

    def write_scores(self, scores: Iterable[Mapping[str, Any]], *, replace: bool = False) -> int:
        """Commit score rows in one transaction (`replace`: a re-scored call's old score goes)."""
        return self._insert("scores", SCORE_FIELDS, scores, "INSERT OR REPLACE" if replace else "INSERT OR IGNORE")

    def scores(self, run_id: str) -> list[dict[str, Any]]:
        """Every score of a run (one per call x scorer)."""
        return self._select("scores", SCORE_FIELDS, "run_id", run_id)

    def judge_verdict(self, key: str) -> dict[str, Any] | None:
        """The recorded judge call with this key (see `JUDGE_CALL_FIELDS`), or None."""
        with self._lock:
            record = self._db.execute(
                f"SELECT {', '.join(JUDGE_CALL_FIELDS)} FROM judge_calls WHERE key=?", (key,)
            ).fetchone()
        return dict(zip(JUDGE_CALL_FIELDS, record, strict=True)) if record else None

    def write_judge_call(self, call: Mapping[str, Any]) -> None:
        """Record one judge call (a call already recorded under its key is kept)."""
        self._insert("judge_calls", JUDGE_CALL_FIELDS, [call], "INSERT OR IGNORE")

    def judge_calls(self, run_id: str) -> list[dict[str, Any]]:
        """The judge calls behind a run's scores, each once, with `scores`: how many scores use it."""
        columns = ", ".join(f"j.{name}" for name in JUDGE_CALL_FIELDS)
        with self._lock:
            records = self._db.execute(
                f"SELECT {columns}, COUNT(*) FROM judge_calls j JOIN scores s ON s.judge_call = j.key "
                "WHERE s.run_id=? GROUP BY j.key ORDER BY MIN(s.rowid)",
                (run_id,),
            ).fetchall()
        return [dict(zip((*JUDGE_CALL_FIELDS, "scores"), record, strict=True)) for record in records]

    def write_battles(self, battles: Iterable[Mapping[str, Any]]) -> int:
        """Record an arena's battles (battles already recorded keep their shown order)."""
        return self._insert("battles", BATTLE_FIELDS, battles, "INSERT OR IGNORE")

    def battles(self, arena_id: str) -> list[dict[str, Any]]:
        """An arena's battles, in the order they were recorded."""
        return self._select("battles", BATTLE_FIELDS, "arena_id", arena_id)

    def battle(self, arena_id: str, battle_id: str) -> dict[str, Any] | None:
        """One battle, looked up by its key (None if the arena has no such battle)."""
        with self._lock:
            record = self._db.execute(
                f"SELECT {', '.join(BATTLE_FIELDS)} FROM battles WHERE arena_id=? AND battle_id=?",
                (arena_id, battle_id),
            ).fetchone()
        return None if record is None else dict(zip(BATTLE_FIELDS, record, strict=True))

    def write_vote(self, vote: Mapping[str, Any]) -> None:
        """Commit one vote now (a voter's new vote on the same battle replaces the old one)."""
        self._insert("votes", VOTE_FIELDS, [vote], "INSERT OR REPLACE")

    def votes(self, arena_id: str) -> list[dict[str, Any]]:
        """An arena's votes, in the order they were cast."""
        return self._select("votes", VOTE_FIELDS, "arena_id", arena_id)

    def _insert(self, table: str, fields: tuple[str, ...], records: Iterable[Mapping[str, Any]], verb: str) -> int:
        sql = f"{verb} INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"
        # Most values (str, int, None) go in as they are; only the others pay a call.
        values = [
            [value if type(value) in _AS_IS else _to_sql(value) for value in map(record.get, fields)]
            for record in records
        ]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, values)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def _select(self, table: str, fields: tuple[str, ...], key: str, value: Any) -> list[dict[str, Any]]:
        with self._lock:
            records = self._db.execute(
                f"SELECT {', '.join(fields)} FROM {table} WHERE {key}=? ORDER BY rowid", (value,)
            ).fetchall()
        return [dict(zip(fields, record, strict=True)) for record in records]

    def manifest(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._db.execute("SELECT manifest FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return json.loads(record[0]) if record else None

    def runs(self, *, manifests: bool = False) -> list[dict[str, Any]]:
        """All runs, newest first: run_id, created_at, status and row count (and with
        `manifests`, each run's manifest)."""
        with self._lock:
            records = self._db.execute(
                "SELECT r.run_id, r.created_at, r.status, COUNT(x.run_id), r.manifest FROM runs r "
                "LEFT JOIN rows x ON x.run_id = r.run_id GROUP BY r.run_id ORDER BY r.created_at DESC"
            ).fetchall()
        runs = [dict(zip(("run_id", "created_at", "status", "rows"), r[:4], strict=True)) for r in records]
        if manifests:
            for run, record in zip(runs, records, strict=True):
                run["manifest"] = json.loads(record[4])
        return runs

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"RunStore({self.path!r})"


# sqlite3 stores these as they are: a bool as 0/1, and a float NaN as NULL (SQLite has no NaN).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _to_sql(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # a float subclass (numpy's): NaN is NULL
        return None
    return value


def _from_sql(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("warmup", "ok"):
        row[name] = bool(row[name])
    if row.get("schema_valid") is not None:
        row["schema_valid"] = bool(row["schema_valid"])
    if row["started_at"]:
        row["started_at"] = datetime.fromisoformat(row["started_at"])
    return row


def keys_of(rows: Iterable[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """The (target, prompt_id, trial, warmup) keys of some rows."""
    return {tuple(r[k] for k in KEY_FIELDS) for r in rows}
