"""The Archive: one directory holding ``index.db`` (SQLite) and ``blobs/`` (Parquet).

Write order is the durability contract: payload blobs are written, fsynced and renamed
first; the index rows that point at them are committed after, in one transaction per
batch. A crash in between leaves at most an orphan blob (``audit()`` lists it,
``audit(repair=True)`` removes it); a committed job always has its blob.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import (
    ArchiveError,
    ArchiveLockedError,
    ArchiveWriteError,
    BlobIntegrityError,
    JobNotFoundError,
    JobValidationError,
    QueryValueError,
)
from .job import IBMQJob
from .query import build_filter, gc_paused, job_ids_of, to_frame
from .record import KNOWN_KEYS, normalize
from .status import API_FINAL_STATUSES
from .store.blobs import BLOB_DIR, BlobStore, fsync_path, loads
from .store.index import (
    INDEX_FILE,
    QUERY_COLUMNS,
    Index,
    JobFilter,
    now_us,
    raise_if_not_archive,
    row_from_record,
)

# Each commit rewrites the index pages its rows touch; at 1M jobs 10,000-job batches cost
# 16% against one transaction (bench/ingest.py).
DEFAULT_BATCH = 50_000
# At most this many jobs with a result or qobj per batch: bounds the memory of one blob
# file while index-only batches stay large (each commit costs an fsync).
PAYLOAD_BATCH = 2000
# Rows of a query() answer read and converted at a time: one batch for the usual answers,
# bounded memory for an answer of every job.
_QUERY_BATCH = 50_000
LOCK_FILE = "write.lock"
_BACKUP_ATTEMPTS = 3
# Reads of a blob that went missing look at the index again this many times in all: a
# writer's update and a repair may have removed the file since its row was read.
_REREAD_ATTEMPTS = 3


class _FileLock:
    """This process's hold on one lock file: a threading lock (POSIX record locks never
    conflict within a process) and the one fd that carries the record lock (closing ANY fd
    of the file drops a process's record locks, so no other is ever opened while in use)."""

    __slots__ = ("fd", "mutex", "users")

    def __init__(self, fd: int):
        self.fd = fd
        self.mutex = threading.Lock()
        self.users = 0  # threads holding or waiting; the fd closes when none is left


class _LockTable:
    """The lock files this process uses, by (device, inode); one table per process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.guard = threading.Lock()
        self.files: dict[tuple[int, int], _FileLock] = {}


_locks = _LockTable()


def _lock_table() -> _LockTable:
    """This process's table. A forked child starts an empty one: it holds none of the
    parent's record locks, and a copied mutex may be held by a thread it does not have.
    Checked on use, so a fork that skips Python's at-fork hooks (fork() from C) is covered."""
    global _locks
    table = _locks
    if table.pid != os.getpid():
        for key, held in list(_locks.files.items()):  # copies of the parent's fds
            with contextlib.suppress(OSError):
                st = os.fstat(held.fd)
                if (st.st_dev, st.st_ino) == key:  # not a number the child reused
                    os.close(held.fd)
        table = _locks = _LockTable()
    return table


# Eagerly too, so that a child does not keep the parent's flocked open file (a parent
# killed while holding the lock would leave it held by the child's copy).
os.register_at_fork(after_in_child=_lock_table)


def _lock_entry(path: Path) -> tuple[tuple[int, int], _FileLock]:
    """The table entry of a lock file (created, and its fd opened, on first use)."""
    table = _lock_table()
    with table.guard:
        while True:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                try:  # O_EXCL: a new file, on which this process cannot hold a lock yet
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides (a group's 002)
                except FileExistsError:
                    continue
            else:
                key = (st.st_dev, st.st_ino)
                if key in table.files:
                    entry = table.files[key]
                    entry.users += 1
                    return key, entry
                fd = os.open(path, os.O_RDWR)
            st = os.fstat(fd)
            key = (st.st_dev, st.st_ino)
            if key in table.files:  # replaced meanwhile by a file in use here: keep the fd
                continue  # open (closing it would drop this process's lock on that file)
            entry = table.files[key] = _FileLock(fd)
            entry.users += 1
            return key, entry


def _drop_entry(key: tuple[int, int], entry: _FileLock) -> None:
    table = _lock_table()
    with table.guard:
        entry.users -= 1
        if entry.users == 0 and table.files.get(key) is entry:
            del table.files[key]
            os.close(entry.fd)  # no thread holds or waits for it: no lock of ours drops


def _try_lock_file(fd: int) -> bool:
    """Take the record lock, then the flock (versions before this one lock with flock only);
    False, holding neither, if another process holds one of them."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    except BaseException:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        raise
    return True


def _unlock_file(fd: int) -> None:
    # LOCK_UN, not close: an flock belongs to the open file, which a child forked meanwhile
    # shares; unlocking releases it for the child's copy too. Record locks are never inherited.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    fcntl.lockf(fd, fcntl.LOCK_UN)


def record_of(job: Any) -> dict[str, Any]:
    """The normalized record of an IBMQJob, any object with ``to_dict()``, or a dict."""
    if isinstance(job, IBMQJob):
        for field in job._unlisted:
            # A live job from provider.jobs(): the server's list items carry no name or tags,
            # which it reads in full (one request) rather than archive it unnamed and untagged.
            job._read_in_full(field)
        return job._record  # already normalized; the archive never mutates it
    if isinstance(job, dict):
        return normalize(job)
    to_dict = getattr(job, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if not data:
            raise JobValidationError(
                f"{type(job).__name__}.to_dict() returned {data!r}; qiskit-ibmq-provider 0.8-0.11 "
                "returns {} there. Rebuild it with jobarchive.IBMQJob.from_server() or "
                "provider.retrieve_job() first."
            )
        return normalize(data)
    raise JobValidationError(
        f"cannot archive a {type(job).__name__}: pass an IBMQJob, an object with to_dict(), "
        "or a to_dict() dict"
    )


def _one_job_id(value: Any, method: str) -> str:
    """The one job id of ``value``: an id, or a one-job selection (a ``query()`` row, a
    one-element Series). Anything else was reported as a job not in the archive."""
    if isinstance(value, str):
        return value
    try:
        ids = job_ids_of(value)
    except (TypeError, QueryValueError):
        ids = None
    if ids is not None and len(ids) == 1 and isinstance(ids[0], str):
        return ids[0]
    what = f"{len(ids):,} jobs" if ids is not None else f"a {type(value).__name__}"
    raise TypeError(f"Archive.{method}() takes one job id (a str), not {what}; pass one, e.g. "
                    "df.job_id.iloc[0], or loop over the ids")


def _v1_data(entry: Any) -> Any:
    """The ``data`` (counts) of a v1 job's ``qasms`` entry: ``{"result": {"data": ...}}``."""
    result = entry.get("result") if isinstance(entry, dict) else None
    return result.get("data") if isinstance(result, dict) else None


def _batches(records: Iterable[dict[str, Any]], size: int, payload_size: int) -> Iterator[list[dict[str, Any]]]:
    """Cut after ``size`` records or ``payload_size`` records carrying a result/qobj."""
    batch: list[dict[str, Any]] = []
    payloads = 0
    for record in records:
        batch.append(record)
        if record.get("result") is not None or record.get("qobj") is not None:
            payloads += 1
        if len(batch) >= size or payloads >= payload_size:
            yield batch
            batch, payloads = [], 0
    if batch:
        yield batch


def _generations(records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The records in rounds in which each job id appears once: first occurrences, then
    second ones... Writing the rounds in turn equals adding the records one by one (payloads
    an update lacks are kept, every change gets its event), at the cost of one round when
    no id repeats."""
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for record in records:
        n = seen.get(record["job_id"], 0)
        seen[record["job_id"]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(record)
    yield from rounds


def _without_superseded_payloads(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records, with the payloads taken off those that a later record of the same job
    in the batch replaces: a final record (which the index always takes) carrying every
    payload they carry, with no record between carrying one it lacks. The batch is one
    transaction, so nothing could read them; but each was written to a blob file of its own
    round (300 copies of a job: 300 fsynced files, 299 of them left as orphans). What the
    rounds write is otherwise unchanged: statuses, tags and names (and their events), and
    the payloads every job ends with."""
    cover: dict[str, int] = {}  # job id -> payloads (1 qobj, 2 result) of a later final record
    out = list(records)
    for i in range(len(records) - 1, -1, -1):
        record = records[i]
        job_id = record["job_id"]
        carried = (record.get("qobj") is not None) | (record.get("result") is not None) << 1
        held = cover.get(job_id)
        if held is not None and not carried & ~held:
            if carried:
                out[i] = {**record, "qobj": None, "result": None}  # a copy: records are shared
        elif carried and record["status"] in API_FINAL_STATUSES:
            cover[job_id] = carried
        else:
            cover.pop(job_id, None)
    return out


@dataclass(frozen=True)
class BackupResult:
    """What ``Archive.backup`` wrote: the backup's path, its jobs, blob files and bytes, and
    the blobs it could not copy intact (only with ``allow_damaged=True``; else it raises)."""

    path: Path
    jobs: int
    blobs: int
    bytes: int
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (for the CLI)."""
        return {"path": str(self.path), "jobs": self.jobs, "blobs": self.blobs,
                "bytes": self.bytes, "problems": list(self.problems)}


def _refuse_backup_dest(source: Path, dest: Path) -> None:
    """Clear errors for a backup destination that is not a new or empty directory."""
    src, target = source.resolve(), dest.resolve()
    if target == src:
        raise ArchiveError(f"{dest} is the archive itself; pass a new or empty directory for the backup.")
    if src in target.parents:
        raise ArchiveError(f"{dest} is inside the archive {source}; pass a new or empty directory "
                           "outside it (the backup would become part of the archive).")
    if dest.exists() and not dest.is_dir():
        raise ArchiveError(f"{dest} is a file; pass a new or empty directory for the backup.")
    if dest.is_dir() and any(dest.iterdir()):
        raise ArchiveError(f"{dest} is not empty; pass a new or empty directory (a backup never "
                           "mixes with or overwrites other files): remove its contents or choose "
                           "another path.")


def _partial_prefix(dest: Path) -> str:
    return f".{dest.name}.partial-"


def _new_partial_backup(dest: Path) -> tuple[Path, int]:
    """A new hidden directory beside ``dest`` to build a backup in, and a descriptor holding
    an flock on it for as long as the backup runs: the mark of a live backup."""
    while True:
        work = Path(tempfile.mkdtemp(prefix=_partial_prefix(dest), dir=dest.parent))
        fd = os.open(work, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return work, fd
        except OSError:  # another backup's sweep took it first and is removing it
            os.close(fd)


def _remove_abandoned_backups(dest: Path) -> None:
    """Remove the partial copies beside ``dest`` that killed backups left (a whole archive's
    size each, hidden): the ones no live backup holds the flock of."""
    for old in dest.parent.glob(f"{glob.escape(_partial_prefix(dest))}*"):
        try:
            fd = os.open(old, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a backup under way in another process
        else:
            shutil.rmtree(old, ignore_errors=True)
        finally:
            os.close(fd)


_DAMAGED_FIX = ("`jobarchive audit` lists every damaged job; a sync fetches the payloads of a "
                "missing file again where the server still serves them, or restore the file from a "
                "backup (one made by Archive.backup holds every blob it lists)")


def _by_job(location: tuple[str, str | None, int | None]) -> tuple[str, str, int]:
    job_id, path, row = location
    return job_id, path or "", -1 if row is None else row


def _some_jobs(job_ids: Sequence[str]) -> str:
    """'3 jobs (a, b, c)', at most three ids named."""
    named = ", ".join(job_ids[:3]) + (", ..." if len(job_ids) > 3 else "")
    return f"{len(job_ids):,} job{'s' if len(job_ids) != 1 else ''} ({named})"


class Archive:
    """A persistent, queryable archive of IBM Quantum jobs in a directory."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, busy_timeout: float = 30.0):
        self.path = Path(path)
        raise_if_not_archive(self.path)
        if not (self.path / INDEX_FILE).exists() and not create:
            raise ArchiveError(
                f"No archive at {self.path}. Create one with Archive({str(self.path)!r}) "
                f"or `jobarchive init {self.path}`."
            )
        # Absolute: a relative path would follow the process's working directory (a
        # notebook's %cd), and the blobs, the lock and new threads' connections with it.
        self.path = self.path.absolute()
        new = not (self.path / INDEX_FILE).exists() or not (self.path / BLOB_DIR).is_dir()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ArchiveWriteError(f"cannot create the archive {self.path} ({err.strerror or err}); "
                                    "pass a path in a directory this user can write to.") from err
        self.index = Index(self.path / INDEX_FILE, busy_timeout=busy_timeout)  # refuses foreign files first
        try:
            # Read-only media: blobs/ is not created (a copy of index.db alone still reads).
            self.blobs = BlobStore(self.path, create=not self.index.read_only)
        except BaseException:
            self.index.close()
            raise
        if new and not self.index.read_only:
            # The new names (index.db, blobs/, the archive's own) must survive a power cut
            # like the files in them: blob files are fsynced into blobs/, not blobs/ into here.
            fsync_path(self.path)
            fsync_path(self.path.parent)

    def __repr__(self) -> str:
        return f"<Archive {str(self.path)!r}>"

    def close(self) -> None:
        """Close the index connection."""
        self.index.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- writes ----------------------------------------------------------------------

    def add(self, job: Any, *, source: str = "local") -> str:
        """Add (or update) one job; returns its id. See ``add_many``."""
        record = record_of(job)
        self._write([record], source)
        return record["job_id"]

    def add_many(self, jobs: Iterable[Any], *, batch_size: int = DEFAULT_BATCH,
                 source: str = "local") -> int:
        """Add or update jobs in bulk, one transaction per batch; returns how many.

        A batch is ``batch_size`` jobs, or fewer when 2,000 of them carry a result or qobj
        (those go to one Parquet file written before the batch commits).

        A job id already archived is updated (the record added last wins, payloads it lacks
        are kept) and changes of status, tags and name go to the events table. A list is
        validated whole before anything is written, so one bad job writes nothing; an
        iterator is validated batch by batch.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        if isinstance(jobs, (dict, str, bytes, IBMQJob)):
            # A dict or a str iterates as its keys or characters: each was refused as "cannot
            # archive a str", which did not say that the one job itself was the problem.
            raise JobValidationError(
                f"add_many takes an iterable of jobs, not one {type(jobs).__name__}; pass "
                "[job] or call add(job) for a single job",
                jobs.get("job_id") if isinstance(jobs, dict) and isinstance(jobs.get("job_id"), str) else None)
        payload_size = min(batch_size, PAYLOAD_BATCH)
        with gc_paused():
            records = ([record_of(j) for j in jobs] if isinstance(jobs, Sequence)
                       else (record_of(j) for j in jobs))
            written = 0
            try:
                for batch in _batches(records, batch_size, payload_size):
                    self._write(batch, source)
                    written += len(batch)
            except ArchiveWriteError as err:
                if not written:
                    raise
                raise ArchiveWriteError(f"{err} The {written:,} jobs before that batch stay archived.") from err
            return written

    def _write(self, records: list[dict[str, Any]], source: str) -> None:
        # Under the index's write lock from the first read to the commit: the merge of
        # partial payloads and the events compare against what is stored, which no other
        # writer can change meanwhile; and no live writer's blob is ever unreferenced while
        # someone else holds the lock (audit's repair relies on that).
        rounds = list(_generations(records))
        if len(rounds) > 1:  # an id repeats (rare): only the rounds' last payloads are kept
            rounds = list(_generations(_without_superseded_payloads(records)))
        with self.index.transaction():
            for generation in rounds:
                stamp = now_us()
                rows = [row_from_record(r, stamp) for r in generation]
                self._keep_stored_payloads(rows)
                entries = [(r.job_id, *r.payload) for r in rows if r.payload != (None, None)]
                if not entries:
                    self.index.write_batch(rows, None, {}, source)
                    continue
                blob = self.blobs.write(entries)
                try:
                    self.index.write_batch(rows, blob, dict(zip((e[0] for e in entries), blob.payload_rows,
                                                                strict=True)), source)
                except BaseException:
                    # The batch rolled back before any commit: nothing can point to the file.
                    # (A failed COMMIT keeps it: a commit record the disk took may still count.)
                    with contextlib.suppress(OSError):  # the batch's own error is the one to see
                        self.blobs.remove(blob.path)
                    raise

    def _keep_stored_payloads(self, rows: list[Any]) -> None:
        """An update carrying only one of qobj/result keeps the stored other one."""
        partial = {r.job_id: r for r in rows if (r.payload[0] is None) != (r.payload[1] is None)}
        if not partial:
            return
        for job_id, (_, _, _, path, blob_row, had_result, had_qobj) in self.index.existing(list(partial)).items():
            qobj, result = partial[job_id].payload
            # Nothing to keep when the stored row lacks what the update lacks (a cancelled
            # job's result): its file is not read, so a damaged one cannot stop the update.
            if not (had_qobj if qobj is None else had_result):
                continue
            # A missing blob (a copy of a live archive, a lost file) has nothing left to keep:
            # the update writes what it carries, which heals the job. A damaged one raises: it
            # may still be salvaged (the audit says to move it out of blobs/, then sync).
            if path is None or self.blobs.verify_exists(path) is not None:
                continue
            (old_qobj, old_result), = self.blobs.read_payloads(path, [blob_row], [job_id])
            row = partial[job_id]
            # num_experiments, shots and the has_ flags follow the merged payloads: derived
            # from the one carried alone, a split write gave other columns than a whole one.
            row.set_payload(qobj if qobj is not None else old_qobj,
                            result if result is not None else old_result)

    @contextlib.contextmanager
    def lock(self, timeout: float | None = 0.0) -> Iterator[None]:
        """Hold the archive's write lock (sync and retag take it).

        ``timeout=0`` fails at once, ``None`` waits forever; ``ArchiveLockedError`` otherwise.
        One process and one thread of it hold it at a time (not reentrant); a forked child
        never holds it: a POSIX record lock (fcntl) belongs to the process, not to the open
        file a child shares, so a child forked while it is held (by any means) cannot keep
        it. An flock is taken too, for versions before this one, and released with LOCK_UN.
        """
        self.index.check_writable()  # before the lock file, which it could not open either
        deadline = None if timeout is None else time.monotonic() + timeout
        pid = os.getpid()
        key, entry = _lock_entry(self.path / LOCK_FILE)
        try:
            wait = -1 if deadline is None else max(0.0, deadline - time.monotonic())
            if not entry.mutex.acquire(timeout=wait):  # another thread of this process
                self._raise_locked()
            try:
                while not _try_lock_file(entry.fd):  # another process
                    if deadline is not None and time.monotonic() >= deadline:
                        self._raise_locked()
                    time.sleep(0.05)
                try:
                    yield
                finally:
                    if os.getpid() == pid:  # a forked child leaving the block holds nothing
                        _unlock_file(entry.fd)
            finally:
                entry.mutex.release()  # in a child: its own copy, which nothing else uses
        finally:
            if os.getpid() == pid:  # a child's fd numbers are its own (its copies are gone)
                _drop_entry(key, entry)

    def _raise_locked(self) -> None:
        raise ArchiveLockedError(
            f"{self.path} is busy: another sync or retag holds its write lock. "
            "Wait for it to finish, or pass lock_timeout=None to wait.")

    # --- backup ----------------------------------------------------------------------

    def backup(self, dest: str | os.PathLike[str], *, allow_damaged: bool = False) -> BackupResult:
        """Write a consistent copy of the archive to ``dest`` (a new or empty directory),
        safe while other processes write to it.

        index.db is copied with SQLite's online backup at one snapshot; then every blob file
        that snapshot lists is copied (temp name, fsync, rename) and checked against the
        size and SHA-256 the index holds. The copy is built beside ``dest`` and renamed into
        place: ``dest`` is the whole backup or absent. A missing or damaged blob raises
        ``BlobIntegrityError`` naming it (nothing is left at ``dest``); with
        ``allow_damaged=True`` the backup holds everything else, the result's ``problems``
        list what is absent, and the backup's ``audit()`` names the jobs concerned.
        """
        dest = Path(dest)
        _refuse_backup_dest(self.path, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_backups(dest)
        work, held = _new_partial_backup(dest)
        try:
            # The archive's sharing, but always the owner's write: a write-protected archive
            # (chmod a-w) gave a backup whose blobs/ could not be created.
            os.chmod(work, stat.S_IMODE(self.path.stat().st_mode) | stat.S_IRWXU)
            (work / BLOB_DIR).mkdir()
            copied_files: dict[str, str] = {}  # rel -> SHA-256, kept across attempts
            for attempt in range(_BACKUP_ATTEMPTS):
                (work / INDEX_FILE).unlink(missing_ok=True)
                jobs, blobs, used = self.index.backup_to(work / INDEX_FILE)
                fsync_path(work / INDEX_FILE)
                problems: list[str] = []
                failed: list[str] = []
                affected = copied = 0
                for blob_id, rel, sha256, size, _ in blobs:
                    if copied_files.get(rel) == sha256:
                        problem = None
                    else:
                        problem = self.blobs.copy_verified(rel, sha256, size, work)
                    if problem is None:
                        copied_files[rel] = sha256
                        copied += 1
                    elif blob_id in used:  # a row no job points to (an orphan) is needed by none
                        problems.append(problem)
                        failed.append(rel)
                        affected += used[blob_id]
                # A blob that is gone from the live index too was superseded and repaired
                # away after the snapshot: a newer snapshot does not need it.
                live = {path for _, path, *_ in self.index.blobs()}
                if not failed or all(rel in live for rel in failed) or attempt == _BACKUP_ATTEMPTS - 1:
                    break
            wanted = {rel for _, rel, *_ in blobs}
            for rel in set(copied_files) - wanted:  # copied for an earlier snapshot only
                (work / rel).unlink(missing_ok=True)
            if problems and not allow_damaged:
                raise BlobIntegrityError(
                    f"backup of {self.path} stopped: {len(problems)} blob file(s) holding the "
                    f"payloads of {affected} jobs are not intact ({'; '.join(problems)}); nothing "
                    f"was written to {dest}. Run audit() on the archive to see the jobs, or pass "
                    "allow_damaged=True to back up everything else.")
            fsync_path(work / BLOB_DIR)
            fsync_path(work)
            try:
                os.rename(work, dest)  # dest is absent or an empty directory
            except OSError as err:
                raise ArchiveError(f"cannot put the backup at {dest} ({err.strerror or err}); "
                                   "pass a new or empty directory.") from err
            fsync_path(dest.parent)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            os.close(held)  # its flock goes with it
        total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        return BackupResult(dest, jobs, copied, total, problems)

    # --- reads -----------------------------------------------------------------------

    def __len__(self) -> int:
        return self.index.count()

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and self.index.contains(job_id)

    def record(self, job_id: str, *, payloads: bool = True) -> dict[str, Any]:
        """The stored to_dict() record of a job; ``JobNotFoundError`` if absent.
        ``payloads=False``: from the index alone, qobj and result None (no blob file read)."""
        job_id = _one_job_id(job_id, "record")
        row = self.index.doc(job_id)
        if row is None:
            raise JobNotFoundError(job_id)
        doc, path, blob_row = row
        qobj = result = None
        for attempt in range(_REREAD_ATTEMPTS):
            if path is None or not payloads:
                break
            try:
                (qobj, result), = self.blobs.read_payloads(path, [blob_row], [job_id])
                break
            except BlobIntegrityError as err:
                # Another process may have updated the job and a repair removed the file it
                # superseded since the row was read: then the job is intact, read it again.
                again = self.index.doc(job_id)
                if again is None:
                    raise JobNotFoundError(job_id) from None
                if tuple(again[1:]) == (path, blob_row) or attempt == _REREAD_ATTEMPTS - 1:
                    raise BlobIntegrityError(f"job {job_id}: {err}. {_DAMAGED_FIX}.") from err
                doc, path, blob_row = again
        stored = loads(doc)
        # Same key order as to_dict() (payloads before the kept server fields), so even
        # json.dumps of the two is identical.
        record = {k: stored.pop(k, None) for k in KNOWN_KEYS}
        record["qobj"] = qobj
        record["result"] = result
        record.update(stored)
        return record

    def get(self, job_id: str) -> IBMQJob:
        """The job rebuilt offline from the archive (no network)."""
        return IBMQJob._from_record(self.record(_one_job_id(job_id, "get")), None, None)

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """Context manager: the reads in the block (``query``, ``counts``, ``get``...) see one
        state of the archive while other processes write, e.g. a job list and the counts of
        exactly those jobs. Hold it briefly: a long one keeps the index's WAL from shrinking.
        Writes (add, retag, sync...) are refused inside it: write after the block."""
        return self.index.snapshot()

    def query(
        self,
        status: Any = None,
        job_name: str | None = None,
        start_datetime: Any = None,
        end_datetime: Any = None,
        job_tags: list[str] | None = None,
        job_tags_operator: str = "OR",
        share_level: Any = None,
        run_mode: Any = None,
        backend_name: Any = None,
        limit: int | None = None,
        skip: int = 0,
        descending: bool = True,
        experiment_id: Any = None,
    ) -> pd.DataFrame:
        """Jobs matching every given filter, one row a job, newest first by default.

        Filters mirror ``IBMQBackend.jobs()``: ``status`` a JobStatus, its name or a list;
        ``job_name`` a regex (partial match); dates inclusive (naive = local time);
        ``job_tags_operator`` "OR" (any tag) or "AND" (all tags). ``share_level``,
        ``run_mode``, ``backend_name`` and ``experiment_id`` (upstream 0.20) take a value or a
        list; an empty value is no filter, as upstream. ``limit`` None or 0 means no limit.
        """
        flt = build_filter(status, job_name, start_datetime, end_datetime, job_tags,
                           job_tags_operator, share_level, run_mode, backend_name, limit, skip,
                           descending, experiment_id=experiment_id)
        # Batch by batch: the rows of a whole large answer, as tuples, weighed several times
        # the frame (10^6 jobs: +0.9 GB before the frame was built).
        with contextlib.closing(self.index.iter_select(flt, QUERY_COLUMNS, _QUERY_BATCH)) as batches:
            frames = [to_frame(rows) for rows in batches]
        if len(frames) < 2:
            return frames[0] if frames else to_frame([])
        return pd.concat(frames, ignore_index=True)

    def counts(self, job_ids: Any = None, *, missing: str = "raise") -> pd.DataFrame:
        """Long DataFrame of histograms: job_id, experiment, bitstring, count, key (raw key).

        ``job_ids``: ids, a ``query()`` DataFrame, or None for every job with counts: those
        with a result, and v1 jobs (2018-2019), whose counts are in their record's ``qasms``.
        A blob file that is missing or unreadable raises ``BlobIntegrityError`` naming it
        and its jobs; ``missing="skip"`` leaves those jobs out with a warning instead
        (their ids in ``attrs["skipped_jobs"]``).
        """
        if missing not in ("raise", "skip"):
            raise ValueError(f"missing must be 'raise' or 'skip', not {missing!r}")
        ids = job_ids_of(job_ids)
        unique = None if ids is None else list(dict.fromkeys(ids))
        locations = self.index.locations(unique)  # one query also finds unknown ids
        if unique is not None and len(locations) < len(unique):
            known = {job_id for job_id, _, _ in locations}
            raise JobNotFoundError(next(j for j in unique if j not in known))
        damaged: dict[str, str] = {}
        with gc_paused():  # the frame's strings set off collections that walk every live object
            v1 = self._v1_results(None if unique is None else
                                  [job_id for job_id, path, _ in locations if path is None])
            table = self.blobs.read_counts(((path, row, job_id) for job_id, path, row in locations
                                            if path is not None), order=ids, damaged=damaged, results=v1)
            for _ in range(_REREAD_ATTEMPTS - 1):
                if not damaged:
                    break
                # A writer may have moved jobs of a damaged file to a new one, and a repair
                # removed the file, since the locations were read: read again if so.
                again = self.index.locations(unique)
                if sorted(again, key=_by_job) == sorted(locations, key=_by_job):
                    break
                locations, damaged = again, {}
                table = self.blobs.read_counts(((path, row, job_id) for job_id, path, row in locations
                                                if path is not None), order=ids, damaged=damaged,
                                               results=v1)
            # pandas' "string", as every frame of the package: merges on job_id keep the dtype.
            frame = table.to_pandas().astype({"job_id": "string", "bitstring": "string", "key": "string"})
        skipped = [job_id for job_id, path, _ in locations if path in damaged] if damaged else []
        if damaged:
            problems = "; ".join(damaged.values())
            if missing == "raise":
                raise BlobIntegrityError(
                    f"{problems}: the counts of {_some_jobs(skipped)} cannot be read. {_DAMAGED_FIX}, "
                    "or pass missing='skip' to read the others.")
            warnings.warn(f"Archive.counts left out the counts of {_some_jobs(skipped)}: {problems}. "
                          f"{_DAMAGED_FIX}.", UserWarning, stacklevel=2)
        frame.attrs["skipped_jobs"] = skipped
        return frame

    def _v1_results(self, job_ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
        """(job_id, a result dict of its histograms) of the v1 jobs among ``job_ids`` (None:
        all): their counts are in the record's ``qasms``, one entry an experiment."""
        if job_ids == []:
            return []
        out = []
        for job_id, doc in self.index.v1_docs(job_ids):
            qasms = loads(doc).get("qasms")
            if isinstance(qasms, list):
                out.append((job_id, {"results": [{"data": _v1_data(entry)} for entry in qasms]}))
        return out

    def history(self, job_id: str) -> pd.DataFrame:
        """Status transitions and tag/name edits of a job: at, kind, old, new, source, who."""
        job_id = _one_job_id(job_id, "history")
        if job_id not in self:
            raise JobNotFoundError(job_id)
        rows = self.index.events(job_id)
        frame = pd.DataFrame(rows, columns=["job_id", "at_us", "kind", "old", "new", "source", "who"])
        frame = frame.astype({name: "string" for name in ("job_id", "kind", "old", "new", "source", "who")})
        frame.insert(1, "at", pd.to_datetime(frame.pop("at_us").to_numpy("int64"), unit="us", utc=True))
        return frame

    def audit(self, verify: bool = True, repair: bool = False, **options: Any) -> pd.DataFrame:
        """Check the archive; a row a job with ``job_id, ok, problem`` (see ``jobarchive.audit``)."""
        from .audit import audit

        return audit(self, verify=verify, repair=repair, **options)

    def sync(self, provider: Any, **options: Any) -> Any:
        """Bring the archive up to date with the server (see ``jobarchive.sync.sync``)."""
        from .sync import sync

        return sync(self, provider, **options)

    def retag(
        self,
        job_ids: Any,
        replacement_tags: list[str] | None = None,
        additional_tags: list[str] | None = None,
        removal_tags: list[str] | None = None,
        provider: Any = None,
        dry_run: bool = False,
        **options: Any,
    ) -> pd.DataFrame:
        """Bulk tag edit with ``IBMQJob.update_tags`` semantics (see ``jobarchive.retag.retag``)."""
        from .retag import retag

        return retag(self, job_ids, replacement_tags=replacement_tags,
                     additional_tags=additional_tags, removal_tags=removal_tags,
                     provider=provider, dry_run=dry_run, **options)

    def report(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write an HTML report with plots (see ``jobarchive.report.write_report``)."""
        from .report import write_report

        return write_report(self, path, **options)

    def records_without_payloads(self, job_ids: Sequence[str], tick: Any = None,
                                 chunk: int = 800) -> dict[str, dict[str, Any]]:
        """job_id -> stored record with qobj and result None, from the index alone (an update
        without payloads keeps the stored ones); unknown ids are left out. Read ``chunk``
        ids at a time, ``tick(n)`` after each."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(job_ids), chunk):
            ids = list(job_ids[start:start + chunk])
            for job_id, doc in self.index.select(JobFilter(job_ids=ids), ("job_id", "doc")):
                record = loads(doc)
                record["qobj"] = record["result"] = None
                out[job_id] = record
            if tick is not None:
                tick(len(ids))
        return out

    def select_rows(self, flt: JobFilter, columns: Sequence[str]) -> list[tuple]:
        """Raw index rows for a filter (used by sync and retag)."""
        return self.index.select(flt, columns)
