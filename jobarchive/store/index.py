"""The SQLite index (the only module with SQL in it).

One row per job with every filter column indexed, ``job_tags(tag, job_id)`` for tag
filters, ``events`` for status transitions and tag/name edits, ``blobs`` for the Parquet
files with their SHA-256. WAL, ``synchronous=FULL``; every value is a bound parameter.
The hot path uses the connection's ``executemany`` inside one ``atomic()`` transaction
per batch: sqlite-utils' ``upsert_all`` caps statements at 999 variables and costs about
half the rate (see bench/ingest.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import getpass
import inspect
import json
import os
import re
import socket
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..exceptions import (
    ArchiveError,
    ArchiveLockedError,
    ArchiveWriteError,
    IndexIntegrityError,
    SchemaVersionError,
)
from ..record import client_version_text, parse_date, split_payloads
from ..status import API_FINAL_STATUSES, API_TO_JOB_STATUS
from .blobs import BlobFile, dumps, loads, may_hold_unmarked_big_int

INDEX_FILE = "index.db"
# PRAGMA user_version bit: this archive was upgraded from an older version's schema.
_UPGRADED = 1
_CHUNK = 900  # stays under SQLite's default 999 host parameters per statement
# The -wal file is cut back to this size when a writer starts it over. A reader holding one
# snapshot (a long audit, another process's open transaction) keeps every commit made
# meanwhile in it, and SQLite keeps the file at its largest until the last connection
# closes: GBs after a large sync. Above the ~35 MB of a 50,000-job batch of small records;
# batches larger than that regrow it at no measurable cost (4 batches of 75 MB: 3.5-4.2 s
# with the limit, 4.4-5.1 s without).
_WAL_LIMIT = 64 << 20

migrations = Migrations("jobarchive")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE blobs (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            created_us INTEGER NOT NULL
        );
        CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            creation_us INTEGER NOT NULL,
            name TEXT,
            backend_name TEXT,
            status TEXT NOT NULL,
            api_status TEXT NOT NULL,
            final INTEGER NOT NULL,
            share_level TEXT,
            run_mode TEXT,
            kind TEXT,
            experiment_id TEXT,
            client_version TEXT,
            num_experiments INTEGER,
            shots INTEGER,
            has_result INTEGER NOT NULL,
            has_qobj INTEGER NOT NULL,
            tags TEXT NOT NULL,
            doc BLOB NOT NULL,
            blob_id INTEGER REFERENCES blobs(id),
            blob_row INTEGER,
            updated_us INTEGER NOT NULL
        );
        CREATE INDEX jobs_creation ON jobs(creation_us);
        CREATE INDEX jobs_share_creation ON jobs(share_level, creation_us);
        CREATE INDEX jobs_status_creation ON jobs(status, creation_us);
        CREATE INDEX jobs_backend_creation ON jobs(backend_name, creation_us);
        CREATE INDEX jobs_run_mode_creation ON jobs(run_mode, creation_us);
        CREATE INDEX jobs_experiment ON jobs(experiment_id);
        CREATE INDEX jobs_not_final ON jobs(creation_us) WHERE final = 0;
        CREATE TABLE job_tags (
            tag TEXT NOT NULL,
            job_id TEXT NOT NULL,
            PRIMARY KEY (tag, job_id)
        ) WITHOUT ROWID;
        CREATE INDEX job_tags_job ON job_tags(job_id);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL,
            at_us INTEGER NOT NULL,
            kind TEXT NOT NULL,
            old TEXT,
            new TEXT,
            source TEXT NOT NULL,
            who TEXT
        );
        CREATE INDEX events_job ON events(job_id, id);
        CREATE TABLE journal (
            campaign TEXT NOT NULL,
            job_id TEXT NOT NULL,
            state TEXT NOT NULL,
            payload TEXT,
            at_us INTEGER NOT NULL,
            PRIMARY KEY (campaign, job_id)
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m002_jobs_by_blob(db: sqlite_utils.Database) -> None:
    # counts() of every job and audit() find jobs by blob; partial, so that index-only jobs
    # (most of a large archive) cost the writes nothing.
    db.execute("CREATE INDEX jobs_blob ON jobs(blob_id, blob_row) WHERE blob_id IS NOT NULL")


@migrations()
def m003_query_plans(db: sqlite_utils.Database) -> None:
    # Ending each filter index in job_id matches ORDER BY creation_us, job_id (no sort) and
    # lets a tag filter test job_id from the index alone, so only matching rows are read
    # (1.9x faster for tags + date + share at 1M jobs, bench/query.py). tag_counts gives
    # the planner the size of each tag, which SQLite's statistics do not hold.
    db.executescript(
        """
        DROP INDEX jobs_creation;
        DROP INDEX jobs_share_creation;
        DROP INDEX jobs_status_creation;
        DROP INDEX jobs_backend_creation;
        DROP INDEX jobs_run_mode_creation;
        CREATE INDEX jobs_creation ON jobs(creation_us, job_id);
        CREATE INDEX jobs_share_creation ON jobs(share_level, creation_us, job_id);
        CREATE INDEX jobs_status_creation ON jobs(status, creation_us, job_id);
        CREATE INDEX jobs_backend_creation ON jobs(backend_name, creation_us, job_id);
        CREATE INDEX jobs_run_mode_creation ON jobs(run_mode, creation_us, job_id);
        CREATE TABLE tag_counts (tag TEXT PRIMARY KEY, jobs INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO tag_counts SELECT tag, count(*) FROM job_tags GROUP BY tag;
        """
    )


@migrations()
def m004_effective_share_level(db: sqlite_utils.Database) -> None:
    # The column holds what IBMQJob.share_level() answers ("none" when the server sent no
    # level, as for every recorded document), so that query(share_level="none") finds them.
    db.execute("UPDATE jobs SET share_level = 'none' WHERE share_level IS NULL OR share_level = ''")


@migrations()
def m005_client_without_version(db: sqlite_utils.Database) -> None:
    # A client sent with a null version reads as its name alone, not "name==None".
    rows = db.execute("SELECT job_id, doc FROM jobs WHERE client_version LIKE '%==None%'").fetchall()
    db.conn.executemany("UPDATE jobs SET client_version = ? WHERE job_id = ?",
                        [(client_version_text(loads(doc).get("client_info")), job_id) for job_id, doc in rows])


@migrations()
def m006_experiments_of_v1_documents(db: sqlite_utils.Database) -> None:
    # v1 documents carry their circuits in "qasms": num_experiments counts them.
    rows = db.execute("SELECT job_id, doc FROM jobs WHERE num_experiments IS NULL "
                      "AND instr(doc, CAST('\"qasms\"' AS BLOB)) > 0").fetchall()
    updates = [(n, job_id) for job_id, doc in rows if (n := v1_experiments(loads(doc))) is not None]
    db.conn.executemany("UPDATE jobs SET num_experiments = ? WHERE job_id = ?", updates)


def v1_experiments(doc: Any) -> int | None:
    """The circuits of a v1 document (2018-2019: its ``qasms`` list), else None."""
    qasms = doc.get("qasms") if isinstance(doc, dict) else None
    return len(qasms) if isinstance(qasms, list) else None


@migrations()
def m007_exact_big_ints(db: sqlite_utils.Database) -> None:
    # Before the leading-space marker of blobs.dumps (commit baa9d62), a doc holding an int
    # beyond 64 bits was stored as plain JSON, which loads() (orjson first) reads as a float:
    # archives of that time gave back -3.69e19 for -36893488147419103235. Rewritten with the
    # marker, the stdlib reads them exactly. Only a doc with a run of 19 digits can hold one
    # (~2 s a million docs; SQLite's GLOB: 25 s).
    updates = []
    cursor = db.execute("SELECT job_id, doc FROM jobs")
    while rows := cursor.fetchmany(5000):
        updates += [(text, job_id) for job_id, doc in rows if (text := marked_doc(doc)) is not None]
    db.conn.executemany("UPDATE jobs SET doc = ? WHERE job_id = ?", updates)


def marked_doc(doc: str | bytes) -> bytes | None:
    """A doc holding an int beyond 64 bits stored without the marker (see m007) rewritten
    with it; None for any other doc (one that does not parse too)."""
    raw = doc.encode() if isinstance(doc, str) else doc
    if not may_hold_unmarked_big_int(raw):
        return None
    try:
        text = dumps(json.loads(raw))
    except ValueError:
        return None
    return text.encode() if text.startswith(" ") else None


# The v1 jobs (2018-2019): no blob, circuits and counts in the doc's "qasms". counts() finds
# them through this index, which holds only them: a scan for them cost half of counts() of
# every job. Index.v1_docs repeats the expression, so that the planner uses the index.
_V1_JOBS = "blob_id IS NULL AND instr(doc, CAST('\"qasms\":' AS BLOB)) > 0"


@migrations()
def m008_v1_jobs(db: sqlite_utils.Database) -> None:
    db.execute(f"CREATE INDEX jobs_v1 ON jobs(creation_us, job_id) WHERE {_V1_JOBS}")


@migrations()
def m009_jobs_by_blob_covering(db: sqlite_utils.Database) -> None:
    # counts() of every job reads (job_id, blob, row) of every job with a blob: with job_id
    # in the index, no row of the table is read (5.5 vs 8.0 ms for 10,000 jobs).
    db.executescript(
        """
        DROP INDEX jobs_blob;
        CREATE INDEX jobs_blob ON jobs(blob_id, blob_row, job_id) WHERE blob_id IS NOT NULL;
        """
    )


# Migrations that only add or change an index: every read gives the same answer without
# them (slower), so an archive this process cannot write is read without them rather than
# refused.
_INDEX_ONLY = frozenset({"m008_v1_jobs", "m009_jobs_by_blob_covering"})


_ROW_COLUMNS = (
    "job_id", "creation_us", "name", "backend_name", "status", "api_status", "final",
    "share_level", "run_mode", "kind", "experiment_id", "client_version", "num_experiments",
    "shots", "has_result", "has_qobj", "tags", "doc", "blob_id", "blob_row", "updated_us",
)
_PAYLOAD_COLUMNS = frozenset(("has_result", "has_qobj", "num_experiments", "shots"))
_KEEP_IF_NULL = ("blob_id", "blob_row", "num_experiments", "shots")
# An update without payloads keeps the stored blob and its flags. One with payloads points
# to its new blob, which holds every payload the job still has (the writer merged in the
# stored ones it could read), so that blob's flags are the job's: a payload lost with a
# missing blob is not claimed any more.
_UPSERT_SQL = (
    f"INSERT INTO jobs ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' * len(_ROW_COLUMNS))}) "
    "ON CONFLICT(job_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = COALESCE(excluded.{c}, jobs.{c})" if c in _KEEP_IF_NULL
        else f"{c} = CASE WHEN excluded.blob_id IS NULL THEN MAX(excluded.{c}, jobs.{c}) "
             f"ELSE excluded.{c} END" if c in ("has_result", "has_qobj")
        else f"{c} = excluded.{c}"
        for c in _ROW_COLUMNS[1:]
    )
)
QUERY_COLUMNS = (
    "job_id", "name", "backend_name", "status", "api_status", "creation_us", "tags",
    "share_level", "run_mode", "kind", "experiment_id", "client_version", "num_experiments",
    "shots", "has_result",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _int64(value: Any) -> int | None:
    """An int SQLite can store (not a bool, within 64 bits), else None."""
    return value if type(value) is int and _INT64[0] <= value <= _INT64[1] else None


def now_us() -> int:
    """Wall-clock microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(record_date: str) -> int:
    """A normalized record date -> integer microseconds since the epoch (UTC)."""
    dt = datetime.fromisoformat(record_date)  # aware: normalized dates end in Z
    if dt.tzinfo is None:
        dt = parse_date(record_date, None, "creation_date")
    # Exact integer arithmetic: int(timestamp()) truncates toward zero before 1970.
    return (dt - _EPOCH) // _ONE_US


@lru_cache(maxsize=1)
def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: str | None) -> bool:
    return value is not None and _compiled(pattern).search(value) is not None


@dataclass
class JobRow:
    """The index columns of one job, derived from its record (see ``row_from_record``)."""

    values: list[Any]
    tags: list[str]
    payload: tuple[Any, Any]  # (qobj, result); the blob write consumes it
    record: dict[str, Any] | None = None

    @property
    def job_id(self) -> str:
        return self.values[0]

    def set_payload(self, qobj: Any, result: Any) -> None:
        """Carry these payloads instead (an update merged with the stored ones): the
        columns derived from them follow, as if the record had held them."""
        self.payload = (qobj, result)
        self.values[12:16] = [*payload_sizes(self.record or {}, qobj, result),
                              int(result is not None), int(qobj is not None)]


def payload_sizes(record: dict[str, Any], qobj: Any, result: Any) -> tuple[int | None, int | None]:
    """(num_experiments, shots) of a job from its payloads, else from its record."""
    num_experiments = shots = None
    if isinstance(result, dict) and isinstance(result.get("results"), list):
        exps = result["results"]
        num_experiments = len(exps)
        first = exps[0] if exps and isinstance(exps[0], dict) else {}
        shots = _int64(first.get("shots"))
    if isinstance(qobj, dict):
        # The qobj's count wins: a failed job's partial result holds only the experiments
        # that finished.
        if isinstance(qobj.get("experiments"), list):
            num_experiments = len(qobj["experiments"])
        if shots is None and isinstance(qobj.get("config"), dict):
            shots = _int64(qobj["config"].get("shots"))
    qasms = record.get("qasms")  # v1 documents (2018-2019) list their circuits here
    if num_experiments is None and isinstance(qasms, list):
        num_experiments = len(qasms)
    if shots is None:
        shots = _int64(record.get("_api_shots"))
    return num_experiments, shots


def row_from_record(record: dict[str, Any], updated_us: int) -> JobRow:
    """Index columns of a normalized record; qobj/result stay out of the row."""
    doc, qobj, result = split_payloads(record)
    api_status = record["status"]
    num_experiments, shots = payload_sizes(record, qobj, result)
    tags = record["tags"]
    values = [
        record["job_id"], to_us(record["creation_date"]), record.get("name"),
        record.get("backend_name"), API_TO_JOB_STATUS[api_status].name, api_status,
        int(api_status in API_FINAL_STATUSES), record.get("share_level") or "none", record.get("run_mode"),
        record.get("kind"), record.get("experiment_id"),
        client_version_text(record.get("client_info")), num_experiments, shots,
        int(result is not None), int(qobj is not None), dumps(tags), dumps(doc).encode(), None, None, updated_us,
    ]
    return JobRow(values, list(dict.fromkeys(tags)), (qobj, result), record)  # a tag counts once a job


# Lists longer than this are bound as one JSON parameter read by json_each: every `?`
# counts toward SQLite's cap on host parameters (999 in older builds), which a few long
# lists could pass together. Shorter lists keep the plain `IN (?, ...)` plans.
_MANY_VALUES = 100


def _one_of(values: Sequence[str]) -> tuple[str, list[Any]]:
    """``IN (...)`` text (after the column) and its parameters for a list of strings."""
    if len(values) <= _MANY_VALUES:
        return f"IN ({', '.join('?' * len(values))})", list(values)
    # json_each ends a string at an escaped NUL, so such (rare) values are bound one by one.
    plain = [v for v in values if "\x00" not in v]
    odd = [v for v in values if "\x00" in v]
    rows = " UNION ALL VALUES " + ", ".join(["(?)"] * len(odd)) if odd else ""
    return f"IN (SELECT value FROM json_each(?){rows})", [dumps(plain), *odd]


@dataclass
class JobFilter:
    """A query's filters, already validated; rendered to SQL by ``Index.select``."""

    statuses: list[str] | None = None          # JobStatus names
    name_regex: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    tags: list[str] | None = None
    tags_all: bool = False
    share_levels: list[str] | None = None
    run_modes: list[str] | None = None
    backend_names: list[str] | None = None
    experiment_ids: list[str] | None = None
    job_ids: list[str] | None = None
    final: bool | None = None
    limit: int | None = None
    skip: int = 0
    descending: bool = True
    params: list[Any] = field(default_factory=list, repr=False)
    driver: str | None = None  # of several _DRIVERS filters, the one whose index drives

    def indexed(self, drive: bool = True) -> tuple[list[str], list[Any]]:
        """The clauses an index can drive (everything but final, name and tags);
        ``drive=False`` writes them so that SQLite will not use their indexes."""
        clauses: list[str] = []
        params: list[Any] = []
        plus = "" if drive else "+"

        def any_of(column: str, values: Sequence[Any]) -> None:
            passive = self.driver is not None and column in _DRIVERS and column != self.driver
            column = ("+" if passive else plus) + column
            values = list(dict.fromkeys(values))
            if len(values) == 1:  # `= ?` plans better than a one-element IN (about 2x here)
                clauses.append(f"{column} = ?")
                params.extend(values)
            else:
                text, bound = _one_of(values)
                clauses.append(f"{column} {text}")
                params.extend(bound)

        if self.statuses is not None:
            any_of("status", self.statuses)
        for column, values in (("share_level", self.share_levels), ("run_mode", self.run_modes),
                               ("backend_name", self.backend_names),
                               ("experiment_id", self.experiment_ids), ("job_id", self.job_ids)):
            if values is not None:
                any_of(column, values)
        if self.start_us is not None:
            clauses.append(f"{plus}creation_us >= ?")
            params.append(self.start_us)
        if self.end_us is not None:
            clauses.append(f"{plus}creation_us <= ?")
            params.append(self.end_us)
        return clauses, params

    def where(self, tag_plan: str | None = None) -> tuple[str, list[Any]]:
        """The WHERE clause (without the keyword) and its parameters.

        ``tag_plan`` says how tags are matched (``Index`` picks it, see ``TAG_PLANS``); by
        default a correlated EXISTS when another indexed filter drives, else the tag table.
        With AND the first tag is the one looked up in the tag table.
        """
        clauses, params = self.indexed(drive=tag_plan != "list")
        indexed = bool(clauses)
        if self.final is not None:
            clauses.append("final = ?")
            params.append(int(self.final))
        if self.name_regex is not None:
            clauses.append("name REGEXP ?")
            params.append(self.name_regex)
        if self.tags:
            tags = list(dict.fromkeys(self.tags))
            plan = tag_plan or ("exists" if indexed else "list")
            if plan not in TAG_PLANS:
                raise ValueError(f"tag_plan must be one of {', '.join(TAG_PLANS)}, not {tag_plan!r}")
            exists = "EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = jobs.job_id AND t.tag {})"
            # "+job_id" keeps SQLite from driving the query by job_id: the other filters' index
            # drives and each of its rows is checked against the list.
            member = "+job_id" if plan == "range" else "job_id"
            one_of, bound = _one_of(tags)
            # Many AND tags: one count of the job's matching tags (a tag is once a job), not
            # one EXISTS a tag, whose AND chain SQLite caps at an expression depth of 1000.
            count_all = ("(SELECT count(*) FROM job_tags t WHERE t.job_id = jobs.job_id "
                         f"AND t.tag {one_of}) = ?")
            if plan == "exists":
                if self.tags_all and len(tags) > _MANY_VALUES:
                    clauses.append(count_all)
                    params.extend([*bound, len(tags)])
                elif self.tags_all:
                    clauses.extend(exists.format("= ?") for _ in tags)
                    params.extend(tags)
                else:
                    clauses.append(exists.format(one_of))
                    params.extend(bound)
            elif self.tags_all:
                clauses.append(f"{member} IN (SELECT job_id FROM job_tags WHERE tag = ?)")
                params.append(tags[0])
                if len(tags) > _MANY_VALUES:
                    clauses.append(count_all)
                    params.extend([*bound, len(tags)])
                else:
                    clauses.extend(exists.format("= ?") for _ in tags[1:])
                    params.extend(tags[1:])
            else:
                clauses.append(f"{member} IN (SELECT job_id FROM job_tags WHERE tag {one_of})")
                params.extend(bound)
        return " AND ".join(clauses) or "1", params


# Filter columns whose index (column, creation_us, job_id) can drive a query; filter field
# of each.
_DRIVERS = {"status": "statuses", "share_level": "share_levels", "run_mode": "run_modes",
            "backend_name": "backend_names"}

# How a tag filter is matched. "exists": the other filters' index drives, each of its rows
# probes the tag table (cost per row in range). "range": the same drive, checked against the
# list of tagged jobs built first (cost per tag row, then a cheap check per row in range).
# "list": the tagged jobs are fetched directly (cost per tag row, the others never walked).
TAG_PLANS = ("exists", "range", "list")
# Measured at 1M jobs (bench/query.py): one EXISTS probe costs about as much as adding 2.4
# tag rows to a list, and fetching a job by id about 20 rows in range walked by an index.
_PROBE_PER_TAG_ROW = 2.4
_RANGE_ROWS_PER_FETCH = 20
_COUNT_CAP = 200_000  # counting up to here costs at most ~10 ms, a few % of what it decides


# What the disk or the file system did, not a defect of ours: the caller can act on them.
_WRITE_FAILURES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
                             sqlite3.SQLITE_CANTOPEN})


def _code(err: sqlite3.Error) -> int | None:
    """The primary SQLite result code of an error (extended codes carry it in the low byte)."""
    code = getattr(err, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _reads(method: Callable[..., Any]) -> Callable[..., Any]:
    """Reads of a damaged file raise ``IndexIntegrityError`` (saying how to salvage it), not
    SQLite's bare "database disk image is malformed"."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self: Index, *args: Any, **kwargs: Any) -> Iterator[Any]:
            self._check_unchanged()
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                self._raise_if_closed(exc)
                self._raise_if_damaged(exc)
                raise
        return generator

    @functools.wraps(method)
    def wrapper(self: Index, *args: Any, **kwargs: Any) -> Any:
        self._check_unchanged()
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            self._raise_if_closed(exc)
            self._raise_if_damaged(exc)
            raise
    return wrapper


class _ThreadConnection:
    """One thread's connection and its sqlite_utils wrapper."""

    __slots__ = ("conn", "db", "depth", "writing", "pid", "finalizer", "__weakref__")

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.depth = 0  # transactions of _write/snapshot open on this connection
        self.writing = False  # inside a _write: rows not yet committed may be in the file
        self.pid = os.getpid()  # the process that opened it, the only one that may use it
        # Closed when the thread ends and drops it, or at close(); never by a forked child.
        self.finalizer = weakref.finalize(self, _release, conn, self.pid, path)


class Index:
    """The SQLite index of one archive.

    Each thread gets its own connection: on a shared one, the transactions of two threads
    would interleave (one thread's writes landing in, or rolled back with, another's batch;
    reads seeing half a batch). Threads then see each other as SQLite shows separate
    processes: committed batches only. A thread's connection closes when the thread ends.
    """

    def __init__(self, path: Path, busy_timeout: float = 30.0):
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._closed = False
        self._ours = False
        # Why this process cannot write the index (read-only media, no permission), if so:
        # it is then opened for reads only, and every write refuses with this reason.
        self.read_only = None if _writable(self.path) else _why_read_only(self.path.parent)
        self._uri = _uri(self.path, "mode=ro") if self.read_only else None
        self._immutable_state: tuple[int, ...] | None = None  # the files when read as immutable
        _OPEN_INDEXES.add(self)
        if not self.read_only:
            _create_as_umask_says(self.path)
        conn = self.conn
        try:
            with _opening(self.path.parent, busy_timeout):
                if self.read_only:
                    self._open_read_only()
                else:
                    self._check_ours()  # before anything below reads or writes the file
                    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
                    conn.execute("PRAGMA synchronous = FULL")
                    self._migrate()
            self._ours = True
        except ArchiveWriteError:
            self.close()
            raise
        except OSError as err:
            self.close()
            raise ArchiveError(f"cannot open {self.path} ({err})") from err
        except sqlite3.Error as err:
            self.close()
            if _code(err) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
                # A full disk refuses the -wal/-shm files before any migration runs.
                raise ArchiveWriteError(
                    f"cannot open {self.path}: the disk refused a write ({err}); nothing was "
                    "changed. Free disk space (or check the disk), then open it again.") from err
            raise ArchiveError(f"cannot open {self.path} ({err}); the archive directory must be "
                               "readable and writable (SQLite keeps -wal/-shm files beside it)") from err
        except BaseException:
            self.close()
            raise

    def _thread_connection(self) -> _ThreadConnection:
        if self._closed:
            raise ArchiveError(f"the archive at {self.path.parent} was closed; open it again with Archive(path)")
        held = getattr(self._local, "held", None)
        if held is not None and held.pid == os.getpid():
            return held
        _drop_inherited_connections()  # a forked child: the copies go before ours opens
        if _UNUSABLE:
            _refuse_if_unusable(self.path)
        try:
            conn = sqlite3.connect(self._uri or self.path, timeout=self._busy_timeout, isolation_level=None,
                                   check_same_thread=False,  # close() may come from another thread
                                   uri=self._uri is not None)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT}")
            if self._ours:  # the first connection sets it once the file is known to be ours
                conn.execute("PRAGMA synchronous = FULL")
            conn.create_function("regexp", 2, _regexp, deterministic=True)
        except sqlite3.Error as err:
            raise ArchiveError(f"cannot open {self.path} ({err}); the archive directory must be "
                               "readable and writable (SQLite keeps -wal/-shm files beside it)") from err
        held = self._local.held = _ThreadConnection(conn, self.path)
        self._connections.add(held)
        return held

    def _drop_inherited(self) -> None:
        """In a forked child (a multiprocessing pool...), close the connections copied from
        the parent, before this process opens its own.

        SQLite keeps one record per file and process of the locks it holds; the copied one
        says this process holds the parent's locks, so a connection the child opened beside
        it took no real lock. The parent, closing what it then took for the last connection,
        deleted the WAL the children went on writing to: their acknowledged jobs were lost.
        Closing the copies (``_settle_copies``) clears that record (the parent's locks are its
        own, untouched; a close that cannot lock the file exclusively neither checkpoints nor
        deletes).
        """
        pid = os.getpid()
        for held in list(self._connections):
            if held.pid != pid:
                self._connections.discard(held)
                held.finalizer()  # hands it to _COPIES, once
        self._local = threading.local()  # the only thread of the child starts afresh

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self._thread_connection().conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, wrapped by sqlite-utils."""
        return self._thread_connection().db

    def _check_ours(self) -> None:
        """Refuse a file that is not a jobarchive index, before changing anything in it."""
        try:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError:
            raise  # cannot read it at all (permissions...): reported as such by the caller
        except sqlite3.DatabaseError as err:  # "file is not a database"
            raise ArchiveError(f"{self.path} is not a jobarchive index ({err}). Pass an archive "
                               "directory, or a new path to create one.") from err
        ours = "_sqlite_migrations" in tables and self.conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? LIMIT 1",
            (migrations.name,)).fetchone()
        if tables - {"_sqlite_migrations"} and not ours:
            raise ArchiveError(
                f"{self.path} is an SQLite database of another program (tables: "
                f"{', '.join(sorted(tables)[:5])}), not a jobarchive index; it was left unchanged. "
                "Pass an archive directory, or a new path to create one.")

    def _open_read_only(self) -> None:
        """Check an index this process cannot write, opened with SQLite's read-only mode.

        That mode reads the -wal through the -shm file, which only a writer can create: an
        index closed cleanly (no -wal, so index.db holds every commit) is then read as
        immutable. A -wal left by a crash holds commits that immutable mode would not see.
        """
        try:
            self._check_ours()
        except sqlite3.OperationalError as err:
            wal = self.path.with_name(self.path.name + "-wal")
            if _code(err) != sqlite3.SQLITE_CANTOPEN:
                raise
            if wal.exists() and wal.stat().st_size:
                raise ArchiveError(
                    f"cannot read {self.path}: {wal.name} beside it holds commits that SQLite "
                    f"reads only with write access, and {self.read_only}. Copy the archive "
                    "directory to a writable place and open the copy.") from err
            held = self._local.held
            self._connections.discard(held)
            held.finalizer()
            self._local.held = None
            self._uri = _uri(self.path, "mode=ro&immutable=1")
            self._immutable_state = _file_state(self.path)
            self._check_ours()
        self._migrate()

    def check_writable(self) -> None:
        """Raise ``ArchiveWriteError`` if this process can only read the archive."""
        if self.read_only:
            raise ArchiveWriteError(
                f"{self.path.parent} is read-only here: {self.read_only}. It can be read (query, "
                "get, counts, audit without repair, backup to a writable place), not changed; "
                "nothing was written.")

    def _retry_locked(self, fn: Callable[[], Any]) -> Any:
        """``fn()``, retried while the file is locked, for ``busy_timeout`` in all: a lock
        SQLite's busy handler waits for has taken it already (50 retries of that wait made
        opening beside a stuck writer take 25 minutes at the default 30 s)."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction that takes SQLite's write lock first (BEGIN IMMEDIATE).

        A deferred BEGIN reads a snapshot, and when another process commits before this one
        writes, SQLite answers "database is locked" at once (a stale snapshot cannot be
        waited for). Taking the lock up front makes a busy writer wait ``busy_timeout``.
        """
        self.check_writable()
        held = self._thread_connection()
        if held.depth and not held.writing:
            # A snapshot's read transaction cannot become a write once another process has
            # committed (SQLite: "database is locked", with nothing to wait for): refused
            # always, not only when a sync happened to run meanwhile.
            raise ArchiveError(
                f"cannot write to {self.path.parent} inside snapshot(): its reads see the "
                "archive as of the block's start, and a write must start from its latest state "
                "(another process may have written since). Write after the block ends; "
                "nothing was written.")
        if held.depth:  # inside this thread's own transaction: a savepoint of it
            was, held.writing = held.writing, True
            try:
                with held.db.atomic():
                    yield
            finally:
                held.writing = was
            return
        conn = held.conn
        self._drop_stray_transaction(conn)
        try:
            # Once: SQLite's busy handler waits busy_timeout for the lock (retrying the wait
            # made it 50 times busy_timeout: 25 minutes, not 30 s, to say a writer is stuck).
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if _code(err) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            raise ArchiveLockedError(
                f"{self.path} stayed locked by another writer ({err}). Wait for it to finish, "
                "or open the archive with a longer busy_timeout.") from err
        except BaseException:
            # Ctrl-C while waiting for another writer is raised just after BEGIN IMMEDIATE got
            # the lock: a transaction left open would lock every other process out, and the
            # next writes would join it and never be committed.
            self._rollback(conn)
            raise
        held.depth += 1
        held.writing = True
        try:
            with held.db.atomic():  # a savepoint inside the transaction
                yield
            conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback(conn)  # also after a failed COMMIT, which may leave it open
            self._raise_if_closed(exc)
            if isinstance(exc, sqlite3.Error) and _code(exc) in _WRITE_FAILURES:
                raise ArchiveWriteError(
                    f"writing {self.path} failed ({exc}); SQLite rolled the transaction back. "
                    "Free disk space or fix permissions, then run it again.") from exc
            self._raise_if_damaged(exc)
            raise
        finally:
            held.depth -= 1
            held.writing = False

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # A damaged file may refuse even this; a connection closed by another thread has
        # nothing left to roll back (SQLite did), and refuses to be asked.
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _raise_if_closed(self, exc: BaseException) -> None:
        """Another thread's close() during this thread's call: the archive's own error."""
        if self._closed and isinstance(exc, sqlite3.ProgrammingError):
            raise ArchiveError(
                f"the archive at {self.path.parent} was closed (by another thread) while this "
                "call used it; what it had not committed was not written. Open it again with "
                "Archive(path)") from exc

    def _drop_stray_transaction(self, conn: sqlite3.Connection) -> None:
        """Roll back a transaction that no ``_write``/``snapshot`` holds: one that an
        interrupted call (KeyboardInterrupt between its BEGIN and its ``try``) left open.
        Its writes were never acknowledged; joining it would leave ours uncommitted."""
        self._rollback(conn)

    def _check_unchanged(self, cause: BaseException | None = None) -> None:
        """An index read as a file nobody changes (immutable) must not have changed: its
        owner writing meanwhile (a colleague's sync) gives reads pages of two states, wrong
        rows or "damage" whose advice would have sent users to delete the writer's -wal."""
        if self._immutable_state is not None and _file_state(self.path) != self._immutable_state:
            raise ArchiveError(
                f"{self.path} changed while this process read it: it was opened read-only, as "
                "a file nobody writes, and another user or process has written to it since. The "
                "archive is not damaged; open it again to read its current state.") from cause

    def _raise_if_damaged(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (sqlite3.SQLITE_CORRUPT,
                                                                     sqlite3.SQLITE_NOTADB):
            self._check_unchanged(exc)
            raise IndexIntegrityError(
                f"{self.path} is damaged ({exc}). Stop writing to this archive and copy its "
                "directory, then delete index.db-wal and index.db-shm (SQLite would replay their "
                "pages onto the restored file) and restore index.db from a backup; the results "
                "and qobjs are in separate files (blobs/), each row with its job id.") from exc

    def integrity(self) -> list[str]:
        """SQLite's structural check of the index file (pages, b-trees, rows); empty when
        sound. ``quick_check``: it reads the whole file once, about a tenth of the cost of
        ``integrity_check``, which also compares every index with its table."""
        try:
            found = [row[0] for row in self.conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as err:
            return [str(err)]
        return [] if found == ["ok"] else found

    def backup_to(self, dest: Path) -> tuple[int, list[tuple[int, str, str, int, int]], dict[int, int]]:
        """Copy the index to a new file ``dest`` with SQLite's online backup, at one snapshot
        (a writer in another process may commit meanwhile: the copy is all of a commit, never
        a WAL of one moment beside pages of another). Returns what the copy holds: (jobs,
        its ``blobs`` rows, jobs per referenced blob id)."""
        if self._thread_connection().writing:
            # The backup API reads through this connection, which would show it this
            # transaction's rows.
            raise ArchiveError(
                f"cannot back up {self.path} inside this thread's open write transaction: the "
                "copy would hold rows that are not committed. Call backup() after it ends.")
        _create_as_umask_says(dest)  # a group's backup: restorable and writable by the group
        target = sqlite3.connect(dest, isolation_level=None)
        try:
            target.execute("PRAGMA synchronous = FULL")
            try:
                # pages=-1: one step, one read transaction of the source (a stepped backup
                # restarts whenever another connection writes, and may never finish).
                self.conn.backup(target, pages=-1)
            except sqlite3.DatabaseError as exc:
                self._raise_if_damaged(exc)
                if _code(exc) in _WRITE_FAILURES:  # the backup's disk, not the archive
                    raise ArchiveWriteError(
                        f"writing the backup {dest} failed ({exc}); the archive is unchanged. "
                        "Free disk space or fix permissions, then run it again.") from exc
                raise
            jobs = target.execute("SELECT count(*) FROM jobs").fetchone()[0]
            blobs = target.execute("SELECT id, path, sha256, bytes, rows FROM blobs ORDER BY id").fetchall()
            used = dict(target.execute(
                "SELECT blob_id, count(*) FROM jobs WHERE blob_id IS NOT NULL GROUP BY blob_id"))
        finally:
            target.close()
        return jobs, blobs, used

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Hold SQLite's write lock across several steps (``BEGIN IMMEDIATE`` .. ``COMMIT``).

        Writes inside join it, and no other connection commits meanwhile: a read-modify-write
        (or a check of files against the index) inside it cannot race another writer.
        """
        return self._write()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the index (one read transaction); writes
        inside it are refused."""
        held = self._thread_connection()
        if held.depth:
            yield
            return
        conn = held.conn
        self._drop_stray_transaction(conn)
        held.depth += 1
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()  # the snapshot starts here
            yield
        except BaseException as exc:
            self._rollback(conn)
            self._raise_if_closed(exc)
            self._raise_if_damaged(exc)
            raise
        else:
            try:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except sqlite3.ProgrammingError as exc:
                self._raise_if_closed(exc)
                raise
        finally:
            held.depth -= 1

    def _migrate(self) -> None:
        applied = {m.name for m in migrations.applied(self.db)}
        known = {m.name for m in migrations._migrations}
        unknown = applied - known
        if unknown:
            raise SchemaVersionError(
                f"{self.path} was written by a newer jobarchive (schema migrations "
                f"{', '.join(sorted(unknown))} are unknown to this version). "
                "Upgrade jobarchive (pip install -U jobarchive) to open it."
            )
        if self.read_only and not (known - applied) <= _INDEX_ONLY:
            raise ArchiveError(
                f"{self.path} needs an upgrade to this version's schema (migrations "
                f"{', '.join(sorted(known - applied))}), which needs write access, and "
                f"{self.read_only}. Copy the archive directory to a writable place and open the "
                "copy (the copy is upgraded; the original stays readable by its version).")
        if applied != known and not self.read_only:
            try:
                self._retry_locked(self._apply_migrations)
            except sqlite3.Error as err:
                if _code(err) not in _WRITE_FAILURES:
                    raise
                # Each migration is one transaction with its record: the failed one was rolled
                # back, those before it stay applied, and the next open resumes.
                raise ArchiveWriteError(
                    f"upgrading {self.path} to this version's schema failed ({err}); nothing "
                    "was lost (SQLite rolled the step back). Free disk space or fix "
                    "permissions, then open the archive again.") from err

    def _apply_migrations(self) -> None:
        # Under SQLite's write lock from reading what is pending to the last migration:
        # versions before 4036b09 take no directory lock, and one of them upgrading the same
        # archive at once applied a migration between our check and our run ("index jobs_blob
        # already exists": the open failed). It also makes an upgrade all or nothing.
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if migrations.pending(self.db):  # another process may have applied them meanwhile
                upgrade = bool(migrations.applied(self.db))  # an archive of an older version
                migrations.apply(self.db)  # each migration a savepoint of this transaction
                if upgrade:  # its processes that opened it before may go on writing
                    conn.execute(f"PRAGMA user_version = {_UPGRADED}")
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn)
            raise

    def older_versions_may_write(self) -> bool:
        """Whether processes of an older jobarchive may still write to this archive: it was
        upgraded, and those that opened it before keep their code (one that opens it after
        refuses the newer schema, so an archive this version created has none)."""
        if self.conn.execute("PRAGMA user_version").fetchone()[0] & _UPGRADED:
            return True
        # Upgraded by a version before the marker: its migrations were applied at two times
        # (those of one opening are microseconds apart).
        try:
            times = [datetime.fromisoformat(r[0]) for r in self.conn.execute(
                "SELECT applied_at FROM _sqlite_migrations WHERE migration_set = ?", (migrations.name,))]
            return bool(times) and max(times) - min(times) > timedelta(seconds=2)
        except (TypeError, ValueError):  # unreadable times: assume the cautious answer
            return True

    def close(self) -> None:
        """Close the connections of every thread."""
        self._closed = True
        _drop_inherited_connections()  # in a forked child, never the copies in a transaction
        for held in list(self._connections):
            held.conn.close()

    # --- writes ----------------------------------------------------------------------

    def existing(self, job_ids: Sequence[str]) -> dict[str, tuple[str, str, str | None, str | None, int | None,
                                                                  int, int]]:
        """job_id -> (api_status, tags JSON, name, blob path, blob row, has_result, has_qobj)
        of ids already indexed."""
        found = {}
        for i in range(0, len(job_ids), _CHUNK):
            chunk = job_ids[i:i + _CHUNK]
            rows = self.conn.execute(
                "SELECT j.job_id, j.api_status, j.tags, j.name, b.path, j.blob_row, j.has_result, "
                "j.has_qobj FROM jobs j "
                f"LEFT JOIN blobs b ON b.id = j.blob_id WHERE j.job_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for job_id, *rest in rows:
                found[job_id] = tuple(rest)
        return found

    def write_batch(self, rows: list[JobRow], blob: BlobFile | None, blob_rows: dict[str, int],
                    source: str = "local") -> None:
        """Upsert rows (pointing at ``blob`` where ``blob_rows`` says) in ONE transaction.

        The blob must already be durable on disk. Changes of status, tags and name of jobs
        already indexed are written to ``events``.
        """
        with self._write():
            self.conn.execute("SELECT 1 FROM jobs LIMIT 0")  # takes the read snapshot early
            if blob is not None:
                blob_id = self.conn.execute(
                    "INSERT INTO blobs (path, sha256, bytes, rows, created_us) VALUES (?, ?, ?, ?, ?)",
                    (blob.path, blob.sha256, blob.bytes, blob.rows, now_us()),
                ).lastrowid
                for row in rows:
                    index = blob_rows.get(row.job_id)
                    if index is not None:
                        row.values[18] = blob_id
                        row.values[19] = index
            before = self.existing([r.job_id for r in rows])
            # A non-final snapshot never replaces a final job: it is older than what we hold.
            rows = [r for r in rows if not (r.job_id in before and before[r.job_id][0] in
                                            API_FINAL_STATUSES and not r.values[6])]
            if not rows:
                return
            at = now_us()
            events: list[tuple] = []
            tag_rows: list[tuple[str, str]] = []
            retagged: list[str] = []
            for row in rows:
                old = before.get(row.job_id)
                if old is None:
                    tag_rows.extend((t, row.job_id) for t in row.tags)
                    continue
                old_status, old_tags, old_name = old[0], old[1], old[2]
                if old_status != row.values[5]:
                    events.append((row.job_id, at, "status", old_status, row.values[5], source, _who()))
                if old_tags != row.values[16]:
                    events.append((row.job_id, at, "tags", old_tags, row.values[16], source, _who()))
                    retagged.append(row.job_id)
                    tag_rows.extend((t, row.job_id) for t in row.tags)
                if old_name != row.values[2]:
                    events.append((row.job_id, at, "name", old_name, row.values[2], source, _who()))
            gained = Counter(t for t, _ in tag_rows)
            for job_id in retagged:
                gained.subtract(set(loads(before[job_id][1])))
            for i in range(0, len(retagged), _CHUNK):
                chunk = retagged[i:i + _CHUNK]
                self.conn.execute(
                    f"DELETE FROM job_tags WHERE job_id IN ({', '.join('?' * len(chunk))})", chunk
                )
            if before:
                self.conn.executemany(_UPSERT_SQL, [r.values for r in rows])
            else:
                self.conn.executemany(
                    f"INSERT INTO jobs ({', '.join(_ROW_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(_ROW_COLUMNS))})",
                    [r.values for r in rows],
                )
            self.conn.executemany("INSERT OR IGNORE INTO job_tags (tag, job_id) VALUES (?, ?)", tag_rows)
            changed = [(tag, n) for tag, n in gained.items() if n]
            if changed:
                self.conn.executemany("INSERT INTO tag_counts (tag, jobs) VALUES (?, ?) "
                                      "ON CONFLICT(tag) DO UPDATE SET jobs = jobs + excluded.jobs", changed)
                if any(n < 0 for _, n in changed):
                    self.conn.execute("DELETE FROM tag_counts WHERE jobs = 0")
            if events:
                self._insert_events(events)

    def _insert_events(self, events: Iterable[tuple]) -> None:
        self.conn.executemany(
            "INSERT INTO events (job_id, at_us, kind, old, new, source, who) VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )

    def record_events(self, events: Iterable[tuple[str, str, str | None, str | None, str]]) -> None:
        """Append ``(job_id, kind, old, new, source)`` events in one transaction."""
        at = now_us()
        with self._write():
            self._insert_events((j, at, k, o, n, s, _who()) for j, k, o, n, s in events)

    def analyze(self) -> None:
        """Full ANALYZE (after a bulk load, so the planner picks the right index)."""
        self.conn.execute("ANALYZE")

    # --- reads -----------------------------------------------------------------------

    @_reads
    def count(self) -> int:
        """Number of jobs."""
        return self.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    @_reads
    def contains(self, job_id: str) -> bool:
        """Whether a job is indexed."""
        return self.conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone() is not None

    @_reads
    def doc(self, job_id: str) -> tuple[bytes, str | None, int | None] | None:
        """(doc JSON, blob path, blob row) of a job, or None."""
        return self.conn.execute(
            "SELECT j.doc, b.path, j.blob_row FROM jobs j LEFT JOIN blobs b ON b.id = j.blob_id "
            "WHERE j.job_id = ?", (job_id,),
        ).fetchone()

    def tag_plan(self, flt: JobFilter) -> tuple[JobFilter, str | None]:
        """Choose how to match ``flt``'s tags from bounded counts of the rows involved.

        SQLite's statistics hold no per-tag counts, so its planner cannot tell a rare tag
        from a common one. ``tag_counts`` and a bounded count of the rows in range (an
        index-only walk, about 2% of the cheapest plan's cost) can. Returns the filter (with
        AND tags rarest first) and the plan.
        """
        if not flt.tags:
            return flt, None
        clauses, params = flt.indexed()
        if not clauses and flt.limit is None:
            return flt, None  # every tagged job is wanted: the tag table drives
        tags = list(dict.fromkeys(flt.tags))
        sizes = self.tag_counts(tags)
        if flt.tags_all:
            tags.sort(key=lambda t: sizes.get(t, 0))
            flt = replace(flt, tags=tags)
            tagged = sizes.get(tags[0], 0)
        else:
            tagged = sum(sizes.values())  # the list's cost is per tag row, overlaps included
        if clauses:
            in_range = self._bounded_count(f"SELECT 1 FROM jobs WHERE {' AND '.join(clauses)}",
                                           params, _COUNT_CAP)
        else:  # about the number of jobs, from the rowid b-tree's last entry (no count)
            in_range = self.conn.execute("SELECT coalesce(max(rowid), 0) FROM jobs").fetchone()[0]
        if flt.limit is not None:
            # An index-ordered walk stops after about (skip + limit) * in_range / tagged rows:
            # "the newest 10 jobs of a common tag" reads a few dozen rows instead of every
            # tagged job and a sort of them (0.4 ms against 120 ms at 200,000 jobs).
            walk = min(in_range, (flt.skip + flt.limit) * in_range / max(tagged, 1))
            return flt, "exists" if walk * _PROBE_PER_TAG_ROW < tagged else "list"
        if tagged >= in_range * _PROBE_PER_TAG_ROW:
            return flt, "exists"
        if tagged * _RANGE_ROWS_PER_FETCH < in_range:
            return flt, "list"
        return flt, "range"

    @_reads
    def tag_counts(self, tags: Sequence[str] | None = None) -> dict[str, int]:
        """Jobs per tag (of ``tags``, or every tag), from the counts kept as jobs are written."""
        if tags is None:
            return dict(self.conn.execute("SELECT tag, jobs FROM tag_counts"))
        found: dict[str, int] = {}
        for i in range(0, len(tags), _CHUNK):
            chunk = tags[i:i + _CHUNK]
            found.update(self.conn.execute(
                f"SELECT tag, jobs FROM tag_counts WHERE tag IN ({', '.join('?' * len(chunk))})", chunk))
        return found

    def _bounded_count(self, sql: str, params: Sequence[Any], cap: int) -> int:
        return self.conn.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, cap]).fetchone()[0]

    def pick_driver(self, flt: JobFilter) -> JobFilter:
        """With filters on two or more ``_DRIVERS`` columns, the one matching the fewest
        rows drives (from bounded counts): without statistics SQLite always picks the same
        index, and read every job of a common backend to find a rare status."""
        used = [c for c, name in _DRIVERS.items() if getattr(flt, name) is not None]
        # A limit stops either index's walk after a few rows: the counts would cost more
        # (2 ms -> 20 ms for "the newest 10 DONE jobs on lima" at 200,000 jobs).
        if len(used) < 2 or flt.job_ids is not None or flt.limit is not None:
            return flt
        best, fewest = None, _COUNT_CAP
        for column in used:
            alone = JobFilter(start_us=flt.start_us, end_us=flt.end_us,
                              **{_DRIVERS[column]: getattr(flt, _DRIVERS[column])})
            clauses, params = alone.indexed()
            # Counted only up to the fewest so far: the counts cost about the rows the
            # chosen index then reads, not those of the common filters.
            n = self._bounded_count(f"SELECT 1 FROM jobs WHERE {' AND '.join(clauses)}", params, fewest + 1)
            if best is None or n < fewest:
                best, fewest = column, n
        return replace(flt, driver=best)

    def _select_sql(self, flt: JobFilter, columns: Sequence[str]) -> tuple[str, list[Any]]:
        flt, plan = self.tag_plan(self.pick_driver(flt))
        where, params = flt.where(plan)
        order = "DESC" if flt.descending else "ASC"
        # Nothing but a name to match, in full: every job's name is tested whatever the
        # plan, and walking the date index to skip the sort fetched each job from another
        # page of the table (3.4x slower at 200,000 jobs not added in date order). "+"
        # keeps that index out of the ORDER BY: one scan of the table, a sort of the matches.
        unordered = (flt.name_regex is not None and flt.limit is None and flt.final is None
                     and not flt.tags and not flt.indexed()[0])
        sql = (f"SELECT {', '.join(columns)} FROM jobs WHERE {where} "
               f"ORDER BY {'+' if unordered else ''}creation_us {order}, job_id {order}")
        if flt.limit is not None or flt.skip:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, -1 if flt.limit is None else flt.limit, flt.skip]
        return sql, params

    @_reads
    def select(self, flt: JobFilter, columns: Sequence[str] = QUERY_COLUMNS) -> list[tuple]:
        """Rows of the jobs that match, in creation order."""
        sql, params = self._select_sql(flt, columns)
        return self.conn.execute(sql, params).fetchall()

    @_reads
    def iter_select(self, flt: JobFilter, columns: Sequence[str], batch: int = 2000) -> Iterator[list[tuple]]:
        """Like ``select`` but streamed in batches (bounded memory), all from one snapshot.

        Close it (``contextlib.closing``) when not read to the end: a generator left
        suspended, e.g. by a traceback a notebook keeps, holds that snapshot, and every later
        read on this thread would see the archive as it was."""
        sql, params = self._select_sql(flt, columns)
        cursor = self.conn.execute(sql, params)
        try:
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def explain(self, flt: JobFilter) -> list[str]:
        """SQLite's query plan for a filter (tests assert an index drives it)."""
        sql, params = self._select_sql(flt, QUERY_COLUMNS)
        return [r[3] for r in self.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    @_reads
    def v1_docs(self, job_ids: Sequence[str] | None) -> list[tuple[str, bytes]]:
        """(job_id, doc JSON) of jobs without a blob whose doc holds a ``qasms`` key (v1
        jobs of 2018-2019 keep their circuits and counts there); None means every job."""
        sql = f"SELECT job_id, doc FROM jobs WHERE {_V1_JOBS}"
        if job_ids is None:
            return self.conn.execute(sql + " ORDER BY creation_us, job_id").fetchall()
        out = []
        for i in range(0, len(job_ids), _CHUNK):
            chunk = job_ids[i:i + _CHUNK]
            out.extend(self.conn.execute(sql + f" AND job_id IN ({', '.join('?' * len(chunk))})", chunk))
        return out

    @_reads
    def locations(self, job_ids: Sequence[str] | None) -> list[tuple[str, str | None, int | None]]:
        """(job_id, blob path, row) of jobs with a blob; None means every job. Given ids,
        every indexed one is listed, with path and row None when it has no blob (so one
        query also tells which ids are unknown)."""
        if job_ids is None:  # driven by the partial index jobs_blob, not a scan of every job
            return self.conn.execute(
                "SELECT j.job_id, b.path, j.blob_row FROM jobs j JOIN blobs b ON b.id = j.blob_id "
                "WHERE j.blob_id IS NOT NULL ORDER BY j.blob_id, j.blob_row").fetchall()
        out = []
        for i in range(0, len(job_ids), _CHUNK):
            chunk = job_ids[i:i + _CHUNK]
            out.extend(self.conn.execute(
                "SELECT j.job_id, b.path, j.blob_row FROM jobs j LEFT JOIN blobs b ON b.id = j.blob_id "
                f"WHERE j.job_id IN ({', '.join('?' * len(chunk))})", chunk))
        return out

    @_reads
    def blobs(self) -> list[tuple[int, str, str, int, int]]:
        """(id, path, sha256, bytes, rows) of every blob the index knows."""
        return self.conn.execute("SELECT id, path, sha256, bytes, rows FROM blobs").fetchall()

    @_reads
    def job_blob_refs(self) -> Iterator[tuple[str, int | None, int | None, int, int]]:
        """(job_id, blob_id, blob_row, has_result, has_qobj) of every job, streamed."""
        yield from self.conn.execute(
            "SELECT job_id, blob_id, blob_row, has_result, has_qobj FROM jobs ORDER BY job_id")

    def referenced_blob_ids(self) -> set[int]:
        """Blob ids at least one job points to."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT blob_id FROM jobs WHERE blob_id IS NOT NULL")}

    def delete_blob_rows(self, blob_ids: Sequence[int]) -> None:
        """Forget blobs no job references (after their files are removed)."""
        with self._write():
            self.conn.executemany("DELETE FROM blobs WHERE id = ?", [(b,) for b in blob_ids])

    def unknown_blob_refs(self) -> list[tuple[str, int]]:
        """(job_id, blob_id) of jobs pointing to a blob id the ``blobs`` table lacks."""
        return self.conn.execute(
            "SELECT job_id, blob_id FROM jobs WHERE blob_id IS NOT NULL "
            "AND blob_id NOT IN (SELECT id FROM blobs)").fetchall()

    def tag_mismatches(self) -> list[tuple[str, str, str | None]]:
        """Where ``job_tags`` disagrees with the jobs' ``tags`` column, in one query:
        ``(kind, job_id, tag)`` with kind ``missing`` (in tags, no job_tags row), ``extra``
        (a job_tags row not in tags), ``stray`` (a job_tags row of an unknown job) or
        ``invalid`` (tags is not a JSON array)."""
        # CASE, not AND: SQLite may evaluate both sides, and json_type raises on bad JSON.
        is_array = "CASE WHEN json_valid({0}) THEN json_type({0}) = 'array' ELSE 0 END"
        as_array = "CASE WHEN " + is_array + " THEN {0} ELSE '[]' END"
        # json_each cuts a string at an escaped NUL: jobs with such a tag are compared here,
        # in Python, from their rows (few in practice).
        has_nul = "instr({0}, '\\u0000') > 0"
        found = self.conn.execute(
            "SELECT 'missing', j.job_id, t.value FROM jobs j, json_each("
            + as_array.format("j.tags") + ") t WHERE NOT " + has_nul.format("j.tags") + " AND NOT EXISTS "
            "(SELECT 1 FROM job_tags g WHERE g.tag = t.value AND g.job_id = j.job_id) "
            "UNION ALL SELECT CASE WHEN j.job_id IS NULL THEN 'stray' ELSE 'extra' END, "
            "g.job_id, g.tag FROM job_tags g LEFT JOIN jobs j ON j.job_id = g.job_id "
            "WHERE j.job_id IS NULL OR (NOT " + has_nul.format("j.tags") + " AND NOT EXISTS (SELECT 1 FROM json_each("
            + as_array.format("j.tags") + ") t WHERE t.value = g.tag)) "
            "UNION ALL SELECT 'invalid', job_id, NULL FROM jobs WHERE NOT "
            + is_array.format("tags")
        ).fetchall()
        odd = self.conn.execute(
            "SELECT job_id, tags FROM jobs WHERE " + has_nul.format("tags") + " AND "
            + is_array.format("tags")).fetchall()
        for job_id, tags in odd:
            held = {tag for (tag,) in self.conn.execute("SELECT tag FROM job_tags WHERE job_id = ?", (job_id,))}
            listed = set(loads(tags))
            found.extend(("missing", job_id, tag) for tag in sorted(listed - held))
            found.extend(("extra", job_id, tag) for tag in sorted(held - listed))
        return found

    @_reads
    def tag_count_mismatches(self) -> list[tuple[str, int | None, int]]:
        """(tag, count in ``tag_counts`` or None, jobs in ``job_tags``) where they differ:
        versions before m003 keep no counts, and a process of such a version that opened the
        archive before its upgrade goes on writing without them."""
        return self.conn.execute(
            "SELECT g.tag, c.jobs, g.n FROM (SELECT tag, count(*) AS n FROM job_tags GROUP BY tag) g "
            "LEFT JOIN tag_counts c ON c.tag = g.tag WHERE c.jobs IS NOT g.n "
            "UNION ALL SELECT c.tag, c.jobs, 0 FROM tag_counts c "
            "WHERE NOT EXISTS (SELECT 1 FROM job_tags g WHERE g.tag = c.tag) ORDER BY 1").fetchall()

    def _rebuild_tag_counts(self) -> int:
        """Recount ``tag_counts`` from ``job_tags`` (inside a write); returns the tags fixed."""
        wrong = len(self.tag_count_mismatches())
        if wrong:
            self.conn.execute("DELETE FROM tag_counts")
            self.conn.execute("INSERT INTO tag_counts SELECT tag, count(*) FROM job_tags GROUP BY tag")
        return wrong

    def repair_derived_rows(self) -> tuple[int, int]:
        """Rewrite what an older version wrote after this one upgraded the archive (its
        process opened it before, and writes with its own code): the data migrations that
        need no schema change run again (m004 share_level, m005 client_version, m006
        num_experiments of v1 documents, m007 big ints in docs; each touches only rows the
        current write path would write otherwise) and ``tag_counts`` is recounted. One
        transaction: all or nothing. Returns (rows rewritten, tags recounted)."""
        with self._write():
            before = self.conn.total_changes
            for fix in (m004_effective_share_level, m005_client_without_version,
                        m006_experiments_of_v1_documents, m007_exact_big_ints):
                fix(self.db)
            rows = self.conn.total_changes - before
            tags = self._rebuild_tag_counts()
        return rows, tags

    def set_payload_columns(self, fixes: Sequence[tuple[str, int, int, dict[str, int | None]]]) -> int:
        """``(job_id, blob_id, blob_row, {column: value})``: set payload-derived columns
        (has_result, has_qobj, num_experiments, shots) of jobs still at that blob row (one
        updated meanwhile is left alone), in one transaction; returns the rows changed."""
        with self._write():
            before = self.conn.total_changes
            for job_id, blob_id, blob_row, values in fixes:
                columns = [c for c in values if c in _PAYLOAD_COLUMNS]
                if columns:
                    self.conn.execute(
                        f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in columns)} "
                        "WHERE job_id = ? AND blob_id = ? AND blob_row = ?",
                        [*(values[c] for c in columns), job_id, blob_id, blob_row])
            return self.conn.total_changes - before

    @_reads
    def events(self, job_id: str | None = None) -> list[tuple]:
        """(job_id, at_us, kind, old, new, source, who) in order, of one job or all."""
        sql = "SELECT job_id, at_us, kind, old, new, source, who FROM events"
        if job_id is None:
            return self.conn.execute(sql + " ORDER BY id").fetchall()
        return self.conn.execute(sql + " WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()

    # --- journal (resumable campaigns such as retag) ---------------------------------

    def journal_put(self, campaign: str, entries: Iterable[tuple[str, str, str | None]]) -> None:
        """Record ``(job_id, state, payload)`` of a campaign, replacing earlier states."""
        at = now_us()
        with self._write():
            self.conn.executemany(
                "INSERT INTO journal (campaign, job_id, state, payload, at_us) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(campaign, job_id) DO UPDATE SET state = excluded.state, "
                "payload = excluded.payload, at_us = excluded.at_us",
                [(campaign, j, s, p, at) for j, s, p in entries],
            )

    @_reads
    def journal_get(self, campaign: str) -> dict[str, tuple[str, str | None]]:
        """job_id -> (state, payload) recorded for a campaign."""
        return {j: (s, p) for j, s, p in self.conn.execute(
            "SELECT job_id, state, payload FROM journal WHERE campaign = ?", (campaign,))}

    def journal_delete(self, campaign: str, job_ids: Sequence[str]) -> None:
        """Forget some entries of a campaign."""
        with self._write():
            self.conn.executemany("DELETE FROM journal WHERE campaign = ? AND job_id = ?",
                                  [(campaign, j) for j in job_ids])

    def journal_clear(self, campaign: str) -> None:
        """Forget a finished campaign."""
        with self._write():
            self.conn.execute("DELETE FROM journal WHERE campaign = ?", (campaign,))


_OPEN_INDEXES: weakref.WeakSet[Index] = weakref.WeakSet()
_swept_pid = os.getpid()  # the process whose connections _OPEN_INDEXES hold
# Connections this process (a forked child) copied from its parent, with their index files,
# until its first use of an archive settles them (``_settle_copies``).
_COPIES: list[tuple[sqlite3.Connection, Path]] = []
# (st_dev, st_ino) -> path of the index files of which this process holds a copy of a
# connection that was inside a transaction; inherited with the copy by its own children.
_UNUSABLE: dict[tuple[int, int], str] = {}


def _release(conn: sqlite3.Connection, pid: int, path: Path) -> None:
    """The finalizer of a thread's connection. In a forked child it must not close the copy
    (see ``_settle_copies``), even when Python drops the parent's other threads at the fork
    itself: a thread inside an SQLite call then holds the copy's mutex, and the child hung."""
    if os.getpid() == pid:
        conn.close()
    else:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))  # never freed, which would close it
        _COPIES.append((conn, path))


def _settle_copies() -> None:
    """Close the copies of idle connections; keep those inside a transaction open for good,
    and refuse their files in this process. Closing such a copy rolls its half of the
    transaction back, which clears the shared WAL index entries of the pages the parent's
    writer had spilled: the parent's commit then left a damaged index. Nor can a connection
    of this process be used beside it (the lock record, see ``Index._drop_inherited``)."""
    for conn, path in _COPIES:
        try:
            writing = conn.in_transaction  # a flag of the copy: SQLite is not called
        except sqlite3.Error:  # closed before the fork
            continue
        if not writing:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            continue
        with contextlib.suppress(OSError):  # a file gone has nothing left to protect
            st = os.stat(path)
            _UNUSABLE[(st.st_dev, st.st_ino)] = str(path)
    _COPIES.clear()


def _refuse_if_unusable(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) in _UNUSABLE:
        raise ArchiveError(
            f"{path.parent} cannot be used in this process: it was forked (a multiprocessing "
            "pool, os.fork) while a thread of its parent was inside a transaction on the "
            "archive, and that half-done transaction, copied here, can neither be used nor "
            "closed without damaging the archive. Start such processes with multiprocessing's "
            "'spawn' or 'forkserver' method (multiprocessing.get_context('spawn')), or fork "
            "when no thread is writing; the parent's write is unaffected.")


def _drop_inherited_connections() -> None:
    """In a forked child, before its first connection: settle every copied one (see
    ``Index._drop_inherited``). Done on first use, not in an at-fork hook, so that a fork
    (and the at-fork hooks of others, such as archive.py's lock fds) stays fast."""
    global _swept_pid
    if _swept_pid != os.getpid():
        _swept_pid = os.getpid()
        for index in list(_OPEN_INDEXES):
            index._drop_inherited()
        _settle_copies()


@contextmanager
def _opening(folder: Path, timeout: float = 30.0) -> Iterator[None]:
    """Serialize the checks and migrations of processes opening one archive at once (an
    advisory lock on its directory: the index file's own locks belong to SQLite, and closing
    a second descriptor of it would drop them). ``ArchiveLockedError`` after ``timeout``
    seconds: an opener that is stopped (Ctrl-Z) or hung holds it for as long as it lives."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ArchiveLockedError(
                        f"{folder} is being opened by another process (creating it or upgrading "
                        f"its schema) that has not finished in {timeout:g} s; it may be stopped "
                        "(Ctrl-Z, SIGSTOP) or hung. Let it finish, or end it (`fuser -v "
                        f"{folder}` lists the processes using the archive), then open it again; "
                        "or open it with a longer busy_timeout.") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            # LOCK_UN, not only close: an flock belongs to the open file, which a child forked
            # meanwhile (another thread starting a pool) shares; closing our fd left it locked
            # until that child exited, and every open of the archive waited for it.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _file_state(index: Path) -> tuple[int, ...]:
    """Size and modification time of the index and its -wal (0s for a missing file)."""
    state: list[int] = []
    for path in (index, index.with_name(index.name + "-wal")):
        try:
            st = path.stat()
        except FileNotFoundError:
            state += [0, 0]
        else:
            state += [st.st_size, st.st_mtime_ns]
    return tuple(state)


def _create_as_umask_says(index: Path) -> None:
    """Create a new index file with the mode the umask gives (0664 under a group's 002).
    SQLite creates it 0644 whatever the umask (and its -wal/-shm take its mode), so a group
    archive's index was writable by its creator alone. Errors are left to SQLite's open."""
    with contextlib.suppress(OSError):
        os.close(os.open(index, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))


def _writable(index: Path) -> bool:
    """Whether this process may write the index: its directory (SQLite creates -wal/-shm
    there) and each of its files that exists. A new index counts as writable: creating it
    reports its own error."""
    if not index.exists():
        return True
    files = [index.parent, index] + [index.with_name(index.name + s) for s in ("-wal", "-shm")]
    return all(os.access(f, os.W_OK) for f in files if f.exists())


def _why_read_only(folder: Path) -> str:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        pass
    return "this user may not write to it (or to its index files)"


def _uri(index: Path, options: str) -> str:
    """An SQLite URI for the index: its path percent-encoded (spaces, '?', '#', '%' and
    non-ASCII names are file names, not URI syntax)."""
    return f"file:{urllib.parse.quote(str(index.absolute()))}?{options}"


def raise_if_not_archive(path: Path) -> None:
    """Clear error for a path that is not an archive directory."""
    if path.exists() and not path.is_dir():
        raise ArchiveError(f"{path} is a file, not an archive directory; pass the directory path.")
