"""The results store: one SQLite file (WAL mode), one row per task, keyed by (settings hash, seed).

Layout (schema version 1, marked by ``PRAGMA application_id`` and ``PRAGMA user_version``)::

    results(hash, seed, study, settings JSON, status 'done'|'failed', metrics JSON, traceback,
            started, finished (ISO 8601 UTC), seconds, host, worker, version)
            PRIMARY KEY (hash, seed)
    specs(hash, study, name, spec JSON, recorded)      -- every spec run against this store

The driver is the only writer; each row is committed as its task finishes, so a killed driver
loses nothing already written. A row is written with an upsert on (hash, seed): a retried task
replaces its earlier row (a failed row may become done, never the other way round), so no task
ever has two rows.

An existing file is checked through a read-only connection before anything writes to it: a file
that is not SQLite, a corrupt one, another program's SQLite database or a store of another schema
version raises :class:`~memprop.errors.DataError` and is left byte-for-byte as it was.
``synchronous=NORMAL`` under WAL survives any process crash; a power cut may lose the last few
rows, whose tasks then simply run again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import DataError

APPLICATION_ID = 0x6D707377  # "mpsw": memprop sweep store
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"

COLUMNS = ("hash", "seed", "study", "settings", "status", "metrics", "traceback", "started",
           "finished", "seconds", "host", "worker", "version")

_SCHEMA = """
CREATE TABLE results (
    hash      TEXT    NOT NULL,
    seed      INTEGER NOT NULL,
    study     TEXT    NOT NULL,
    settings  TEXT    NOT NULL,
    status    TEXT    NOT NULL CHECK (status IN ('done', 'failed')),
    metrics   TEXT    NOT NULL,
    traceback TEXT,
    started   TEXT,
    finished  TEXT,
    seconds   REAL,
    host      TEXT,
    worker    TEXT,
    version   TEXT,
    PRIMARY KEY (hash, seed)
);
CREATE TABLE specs (
    hash     TEXT PRIMARY KEY,
    study    TEXT NOT NULL,
    name     TEXT NOT NULL,
    spec     TEXT NOT NULL,
    recorded TEXT NOT NULL
);
"""

_UPSERT = f"""
INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})
ON CONFLICT (hash, seed) DO UPDATE SET
    {', '.join(f'{c} = excluded.{c}' for c in COLUMNS[2:])}
WHERE results.status != 'done' OR excluded.status = 'done'
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskResult:
    """One row of the store: a task's settings, seed, outcome and provenance."""

    study: str
    hash: str
    seed: int
    settings: dict[str, Any]
    status: str
    """``"done"`` or ``"failed"``."""
    metrics: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None
    started: str | None = None
    """ISO 8601 UTC time the task started on its worker."""
    finished: str | None = None
    seconds: float | None = None
    """Wall time of the task on its worker, in seconds."""
    host: str = ""
    worker: str = ""
    """Dask worker address (empty when the worker died before reporting)."""
    version: str = ""
    """Versions on the worker and its torch threads: ``memprop V; torch V; numpy V; python V; threads N``
    (the settings hold the torch device and dtype; the store's spec table the command's spec)."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.hash, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def check_store_file(path: str | Path) -> None:
    """Check, without writing anything, that ``path`` is a memprop results store of this schema.

    Raises:
        DataError: the file is not SQLite, is corrupt, is another program's database, or has
            another schema version. The message names the file and the problem.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise DataError(f"{path}: cannot read the results store ({e.strerror})") from None
    if head != SQLITE_HEADER:
        raise DataError(f"{path}: not an SQLite file, so not a memprop results store; "
                        "give a new file name (the file was not changed)")
    try:
        conn = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=30)
    except sqlite3.Error as e:
        raise DataError(f"{path}: cannot open the SQLite file read-only ({e})") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
        if app_id != APPLICATION_ID:
            what = f"tables: {', '.join(tables)}" if tables else "no tables"
            raise DataError(
                f"{path}: an SQLite database but not a memprop results store "
                f"(application_id {app_id:#x}, {what}); refusing to write to it, give a new "
                "file name (the file was not changed)")
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{path}: memprop results store of schema version {version}; this memprop "
                f"reads version {SCHEMA_VERSION}. Use the memprop version that wrote it, or a "
                "new file name (the file was not changed)")
        cols = tuple(r[1] for r in conn.execute("PRAGMA table_info(results)"))
        if set(cols) != set(COLUMNS) or "specs" not in tables:
            raise DataError(f"{path}: results store with an unexpected layout (results "
                            f"columns: {', '.join(cols) or 'none'}); the file was not changed")
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise DataError(f"{path}: corrupt SQLite file ({'; '.join(problems[:3])}); "
                            "the file was not changed")
    except sqlite3.DatabaseError as e:
        raise DataError(f"{path}: corrupt or unreadable SQLite file ({e}); "
                        "the file was not changed") from None
    finally:
        conn.close()


class ResultStore:
    """An open results store. ``readonly=True`` never writes (status, export, plot).

    A missing (or empty, zero-byte) file is created unless ``readonly``. Use as a context
    manager, or call :meth:`close`.

    Raises:
        DataError: see :func:`check_store_file`; or ``readonly`` and no such file.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a directory; give a file name for the store")
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new and readonly:
            raise DataError(f"{self.path}: no such results store")
        if not new:
            check_store_file(self.path)
        try:
            self._conn = sqlite3.connect(_uri(self.path, "ro" if readonly else "rwc"), uri=True,
                                         timeout=30, isolation_level=None)
            if new:
                self._create()
            elif not readonly:
                self._conn.execute("PRAGMA journal_mode = WAL")
            if not readonly:
                self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path}: cannot open the results store ({e})") from None

    def _create(self) -> None:
        c = self._conn
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("BEGIN IMMEDIATE")
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                c.execute(stmt)
        c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        c.execute("COMMIT")

    # ----------------------------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path}: reading the results store failed ({e})") from None

    def put(self, result: TaskResult) -> None:
        """Write one task's row (upsert on (hash, seed); a done row is never overwritten by a
        failed one), committed before returning."""
        row = (result.hash, result.seed, result.study,
               json.dumps(result.settings, sort_keys=True), result.status,
               json.dumps(result.metrics, sort_keys=True), result.traceback, result.started,
               result.finished, result.seconds, result.host, result.worker, result.version)
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(_UPSERT, row)
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path}: writing a result failed ({e})") from None

    def keys(self, status: str | None = None) -> set[tuple[str, int]]:
        """(hash, seed) of every row, or of the rows with ``status``."""
        if status is None:
            return set(self._query("SELECT hash, seed FROM results"))
        return set(self._query("SELECT hash, seed FROM results WHERE status = ?", (status,)))

    def statuses(self) -> dict[tuple[str, int], str]:
        """(hash, seed) -> status, for every row."""
        return {(h, s): st for h, s, st in self._query("SELECT hash, seed, status FROM results")}

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM results")[0][0]

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.rows())

    def rows(self, *, status: str | None = None) -> list[TaskResult]:
        """Every row (or those with ``status``), ordered by study, settings and seed."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM results"
        params: tuple = ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status,)
        out = []
        for r in self._query(sql + " ORDER BY study, settings, seed", params):
            d = dict(zip(COLUMNS, r))
            d["settings"] = json.loads(d["settings"])
            d["metrics"] = json.loads(d["metrics"])
            out.append(TaskResult(**d))
        return out

    def record_spec(self, spec_dict: dict[str, Any]) -> None:
        """Remember a spec run against this store (for ``status`` without ``--spec``)."""
        text = json.dumps(spec_dict, sort_keys=True)
        spec_hash = hashlib.sha256(text.encode()).hexdigest()[:16]
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT OR IGNORE INTO specs (hash, study, name, spec, recorded) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (spec_hash, spec_dict["study"], spec_dict.get("name", ""),
                     text, now))
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path}: writing the spec failed ({e})") from None

    def specs(self) -> list[dict[str, Any]]:
        """The specs run against this store, oldest first."""
        return [json.loads(s) for (s,) in self._query("SELECT spec FROM specs ORDER BY recorded")]
