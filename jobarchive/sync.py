"""The sync engine: keep an archive current with the server, cheaply, losing nothing.

One pass, under the archive's write lock:

1. **Non-final jobs**: every archived non-final job is refreshed from full documents listed
   by id a hundred at a time (no request per job); a record is rewritten only when anything
   in it changed (status, queue information, ...).
2. **Missing payloads**: DONE jobs without a stored result or qobj (a failed fetch, an
   interrupted run) get them fetched; jobs that failed last time are retried. A server that
   answers it holds no qobj for a job (404) is remembered and not asked again. Jobs that
   failed while running (ERROR_RUNNING_JOB) get their partial result fetched the same way,
   and jobs final without running (cancelled, refused by validation) their qobj.
   Jobs to retry are listed by id first; one the server no longer lists and that answers
   an error when asked (or a DONE job whose result it no longer holds) is given up after a
   few syncs (``SyncReport.given_up``), its archived record kept.
3. **Discovery**: new jobs are listed, as full documents, in ascending creation order from a
   cursor kept per provider in the index (minus an overlap window, as jobs can appear
   late); when DONE, each one's result and qobj are fetched, once (a failed one's partial
   result too; a cancelled one's qobj). A new job that cannot be archived (its document refused by this version,
   e.g. a status string it does not know, or its fetch failed) is reported in ``failed``
   and remembered; discovery moves past it, and every later pass asks for it again by id
   until it is archived.
4. ``full=True`` also compares names, tags and status of every listed job with the
   archive (final jobs are read by id when the server's lists carry no names or tags, as
   the older server's do), and archives any listed job the archive lacks (one discovery's
   cursor had passed). A job whose status changed although the archive held it final (the server
   re-filed it, e.g. ERROR to CANCELLED) is refreshed from its full document; the change
   lands in the events table like any other.

Network work runs on a bounded thread pool; all writes happen on the calling thread, in
batches (blob first, then rows, in one transaction), and the cursor only moves past
batches already committed. A kill at any moment loses no acknowledged job and the next
pass picks up where this one stopped.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from .api import url_without_password
from .exceptions import (
    JOB_NOT_FOUND_CODE,
    ApiError,
    BlobIntegrityError,
    IBMQBackendApiProtocolError,
    IBMQError,
    JobValidationError,
    RequestsApiError,
)
from .job import IBMQJob
from .query import to_utc_us
from .record import format_date
from .status import (
    API_ERRORS_WITHOUT_RESULT,
    API_FINAL_STATUSES,
    API_TO_JOB_STATUS,
    ApiJobKind,
    JobStatus,
)
from .store.blobs import loads
from .store.index import JobFilter

if TYPE_CHECKING:
    from .archive import Archive

# Failed after running: the server may hold a partial result (``result(partial=True)``).
PARTIAL_RESULT_STATUSES = frozenset(s for s, js in API_TO_JOB_STATUS.items()
                                    if js is JobStatus.ERROR and s not in API_ERRORS_WITHOUT_RESULT)
# Final without running (cancelled, refused by validation...): no result, but the qobj is
# what was submitted, which the server keeps as for any other job.
QOBJ_ONLY_STATUSES = frozenset(API_FINAL_STATUSES) - {"COMPLETED"} - PARTIAL_RESULT_STATUSES
CURSOR_CAMPAIGN = "sync:cursor"
RETRY_CAMPAIGN = "sync:retry"
NO_QOBJ_CAMPAIGN = "sync:no-qobj"  # final jobs the server answered it holds no qobj for
NO_RESULT_CAMPAIGN = "sync:no-result"  # failed jobs the server holds no partial result for
GONE_CAMPAIGN = "sync:gone"  # archived jobs the server says do not exist (404, code 3250)
# Listed new jobs not archived: their document refused by this version (a status string it
# does not know, ...) or their fetch failed. Asked for again by id every pass, so the
# discovery cursor need not wait for them; payload {"scope": cursor key, "why": message}.
UNARCHIVED_CAMPAIGN = "sync:unarchived"
# The server (auth URL, hub/group/project) the last sync used: the CLI's default for later
# commands of this archive, so a token is never sent to a server the user did not choose.
SERVER_CAMPAIGN = "sync:server"
# Remembered jobs (to refresh, retry, or archive) that the server no longer lists and that
# answer an error other than "not found" when asked by id: payload {"syncs": syncs that
# found it so, "sync": the last one's id, "why": the last error}; state "trying", then
# "given-up" after DEFAULT_UNLISTED_SYNCS syncs (no longer asked; the archived record kept).
UNLISTED_CAMPAIGN = "sync:unlisted"
DEFAULT_UNLISTED_SYNCS = 5
# DONE jobs whose result the server answers it no longer holds (404 other than "job not
# found": results served once and read by another client, say): the same payload and states;
# the job stays archived without its result.
RESULT_GONE_CAMPAIGN = "sync:result-gone"
DEFAULT_OVERLAP_SECONDS = 3600.0
# Downloaded bytes held before a batch is written (decoded, a result takes several times its
# JSON size in memory): 200 results with every shot's memory would take gigabytes.
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
IDS_PER_REQUEST = 100  # ids in one `id inq` filter: keeps the request URL a few KB long
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What a lean job document (no timePerStep) may leave out whatever the job holds.
_LEAN_UNSAID = ("time_per_step", "name", "tags", "share_level", "run_mode", "client_info")


@dataclass
class SyncReport:
    """What one ``sync()`` did.

    ``discovered``: new jobs archived; ``refreshed``: archived jobs re-read from the server
    (``changed``: those whose record changed); ``results_fetched``: results downloaded;
    ``failed``/``gone``/``given_up``: job id -> why (``given_up``: no longer asked for, see
    ``sync``); ``requests``: HTTP requests sent (retries included); ``pending``: archived
    jobs in scope still not final.
    """

    discovered: int = 0
    refreshed: int = 0
    changed: int = 0
    results_fetched: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    passes: int = 0
    pending: int = 0
    gone: dict[str, str] = field(default_factory=dict)  # job id -> the server's "not found"
    # job id -> why: not listed by the server and failing when asked, sync after sync; no
    # longer asked (the archived record kept as it is) until listed again or a full sync
    given_up: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain values."""
        return asdict(self)

    def __str__(self) -> str:
        return (f"sync: {self.discovered} discovered, {self.refreshed} refreshed "
                f"({self.changed} changed), {self.results_fetched} results fetched, "
                f"{len(self.failed)} failed, {len(self.gone)} gone from the server, "
                + (f"{len(self.given_up)} given up (the server stopped listing the job or serving "
                   "its payloads; kept as archived; a full sync asks again), "
                   if self.given_up else "")
                + f"{self.pending} still running; "
                f"{self.requests} requests in {self.seconds:.1f} s")


@dataclass
class _Work:
    job_id: str
    record: dict[str, Any] | None = None   # archived record, or None for a new job
    doc: dict[str, Any] | None = None      # full server document, when already listed
    refresh: bool = True
    unlisted: bool = False                 # asked for in a listing by id, not returned


@dataclass
class _Outcome:
    record: dict[str, Any] | None = None   # the refreshed record to write, if any
    fetched: int = 0                       # results downloaded
    error: str | None = None               # why the job (or one of its payloads) failed
    # (campaign, message): the server answered it holds no such payload (not asked again)
    none: list[tuple[str, str]] = field(default_factory=list)
    gone: str | None = None                # the server's "job not found" message
    result_gone: str | None = None         # a DONE job's result: the server holds none
    refused: str | None = None             # a new job whose document cannot be archived
    # Asked for again next pass, unless its id itself is refused: no answer about that id
    # can ever be archived (a garbled listing's id, say), and asking would fail every pass.
    remember: bool = True
    unreadable: bool = False               # an archived job's new document was refused
    skipped: bool = False                  # not tried: the pass is giving up (server down)
    size: int = 0                          # bytes of answers downloaded for it


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _request_count(client: Any) -> int:
    return int(getattr(client, "request_count", 0) or 0)


def sync(
    archive: Archive,
    provider: Any,
    *,
    backend_name: str | None = None,
    start_datetime: Any = None,
    end_datetime: Any = None,
    full: bool = False,
    workers: int = 8,
    progress: bool | None = None,
    follow: bool = False,
    poll_interval: float = 10.0,
    lock_timeout: float | None = 0.0,
    batch_size: int = 200,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
    page_size: int = 1000,
    max_passes: int | None = None,
    give_up_after: int | None = None,
    on_pass: Callable[[SyncReport], Any] | None = None,
    give_up_unlisted_after: int = DEFAULT_UNLISTED_SYNCS,
) -> SyncReport:
    """Bring ``archive`` up to date with ``provider``'s jobs; see the module docstring.

    ``follow=True`` repeats passes every ``poll_interval`` seconds until no archived job in
    scope is still running; ``on_pass(report)`` is called after each pass that another one
    follows (the report so far: ``passes``, ``pending``, ...). ``lock_timeout=0`` fails at
    once with ``ArchiveLockedError`` when another sync or retag holds the archive; ``None``
    waits. The lock is held during passes only: between them another sync or a retag may
    run, and the next pass waits for it.

    Fetched jobs are written in batches of ``batch_size`` jobs or ``batch_bytes`` of
    downloaded answers, whichever comes first; result downloads are acknowledged to the
    server only once archived. Jobs of another account of the same project (``userId``) that
    this account cannot see are left alone (never marked gone).

    When ``give_up_after`` jobs in a row (default: ``max(3, workers)``) fail on the transport
    (no answer, 5xx or 429 after the client's retries, or 401: the token was refused), the
    server is taken to be down: the jobs not tried yet are skipped, what was fetched is
    written, and ``RequestsApiError`` says so; the next sync resumes from there.

    A remembered job (not final, or to retry, or listed once but not archived) that the
    server no longer lists and that answers an error other than "not found" when asked by
    id is reported in ``failed`` by ``give_up_unlisted_after`` syncs (follow passes count as
    one), then in ``given_up`` and no longer asked for; its archived record is kept as it
    is. It is asked for again once the server lists it again, or by a ``full=True`` sync.
    A DONE job whose result the server answers it no longer holds (404, e.g. a result served
    once and read by another client) is bounded the same way: archived without its result,
    reported in ``failed``, then in ``given_up``.
    """
    client = provider.api_client
    report = SyncReport()
    started = time.monotonic()
    if progress is None:  # bars only on a terminal: a cron job's log gets none
        progress = sys.stderr.isatty()
    requests_before = _request_count(client)
    start_us = to_utc_us(start_datetime, "start_datetime")
    end_us = to_utc_us(end_datetime, "end_datetime")
    sync_id = uuid.uuid4().hex  # strikes of unlisted jobs count once per sync
    timeout = lock_timeout
    while True:
        # The lock is held per pass: a follow waits for hours, and a retag or a cron sync
        # between its passes must not be refused as busy meanwhile.
        with archive.lock(timeout=timeout):
            if not report.passes:
                _record_server(archive, provider)
            engine = _Pass(archive, provider, report, backend_name, start_us, end_us, full,
                           workers, progress, batch_size, overlap_seconds, page_size,
                           give_up_after, batch_bytes,
                           (sync_id, max(1, give_up_unlisted_after)))
            engine.run()
            report.passes += 1
            report.pending = engine.pending()
        if not follow or report.pending == 0 or (max_passes and report.passes >= max_passes):
            break
        if on_pass is not None:
            on_pass(report)
        time.sleep(poll_interval)
        timeout = None  # a later pass waits for whoever took the lock meanwhile
    report.seconds = time.monotonic() - started
    if _request_count(client):
        report.requests = _request_count(client) - requests_before
    return report


class _Pass:
    def __init__(self, archive: Archive, provider: Any, report: SyncReport,
                 backend_name: str | None, start_us: int | None, end_us: int | None,
                 full: bool, workers: int, progress: bool, batch_size: int,
                 overlap_seconds: float, page_size: int, give_up_after: int | None = None,
                 batch_bytes: int = 0, unlisted: tuple[str, int] = ("", DEFAULT_UNLISTED_SYNCS)):
        self.archive = archive
        self.provider = provider
        self.client = provider.api_client
        # Jobs download their results through this one: acknowledged after the batch holding
        # them is committed, since a server may serve a result only once.
        self.job_client = _AckAfterCommit(self.client) if callable(
            getattr(self.client, "job_result_downloaded", None)) else self.client
        self.report = report
        self.backend_name = backend_name
        self.start_us = start_us
        self.end_us = end_us
        self.full = full
        self.workers = max(1, workers)
        self.progress = progress
        self.batch_size = max(1, batch_size)
        self.batch_bytes = batch_bytes if batch_bytes > 0 else DEFAULT_BATCH_BYTES
        self.overlap_us = int(overlap_seconds * 1_000_000)
        self.page_size = page_size
        self.bar = None
        self.scope_key = _cursor_key(provider, backend_name)
        client = self.client
        owner = tuple(getattr(client, name, None) for name in ("hub", "group", "project"))
        self.owner = owner if all(isinstance(p, str) for p in owner) else None
        user = getattr(client, "user_id", None)
        self.user = user if isinstance(user, str) and user else None
        self.gone = set(self.archive.index.journal_get(GONE_CAMPAIGN))
        self.sync_id, self.unlisted_limit = unlisted
        self.strikes = self.archive.index.journal_get(UNLISTED_CAMPAIGN)
        self.result_strikes = self.archive.index.journal_get(RESULT_GONE_CAMPAIGN)
        # campaign -> strikes not yet written: a batch's go in one transaction (each one
        # its own fsync made a retired platform's thousands of jobs cost minutes a sync)
        self.strikes_due: dict[str, list[tuple[str, str, str]]] = {}
        # Not asked for (a full sync asks them all again): the jobs, and the DONE jobs'
        # results.
        self.given_up = set() if full else {
            j for j, (state, _) in self.strikes.items() if state == "given-up"}
        self.results_given_up = set() if full else {
            j for j, (state, _) in self.result_strikes.items() if state == "given-up"}
        self.invisible: set[str] = set()  # colleagues' running jobs this account cannot see
        # Archived jobs whose server document this version refuses now (e.g. a status string
        # it does not know): reported, and not waited for by follow=True (never final here).
        self.unreadable: set[str] = set()
        # Consecutive transport failures across the workers: a dead server is noticed after
        # a few jobs, not after every remaining job has climbed the retry ladder on its own.
        self._failures = FailureRun(max(1, give_up_after or max(3, self.workers)))
        self._breaker = threading.Condition()  # guards _failures and _in_flight
        self._in_flight = 0
        self._cancel = threading.Event()  # set when the pass is interrupted

    # --- helpers ---------------------------------------------------------------------

    def _filter(self, **kwargs: Any) -> JobFilter:
        return JobFilter(backend_names=[self.backend_name] if self.backend_name else None,
                         start_us=self.start_us, end_us=self.end_us, descending=False, **kwargs)

    def _where(self, since_us: int | None = None) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.backend_name:
            where["backend.name"] = self.backend_name
        lower = max(filter(None, (since_us, self.start_us)), default=None)
        # One operator per condition: the real server (LoopBack on MongoDB) applies only the
        # first of {"gte": a, "lte": b}, so both bounds go in `between` (as upstream does).
        if lower is not None and self.end_us is not None:
            where["creationDate"] = {"between": [_iso(lower), _iso(self.end_us)]}
        elif lower is not None:
            where["creationDate"] = {"gte": _iso(lower)}
        elif self.end_us is not None:
            where["creationDate"] = {"lte": _iso(self.end_us)}
        return where

    def _list(self, where: dict[str, Any], full: bool = False) -> Iterator[dict[str, Any]]:
        yield from self.provider.iter_job_docs(where=where, descending=False,
                                               page_size=self.page_size, full=full)

    def _full_docs(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Full documents of the given jobs, ``IDS_PER_REQUEST`` per request."""
        docs: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(job_ids, IDS_PER_REQUEST):
            wanted = set(chunk)
            for doc in self._list({"id": {"inq": chunk}}, full=True):
                if isinstance(doc, dict) and isinstance(doc.get("id"), str):
                    docs[doc["id"]] = doc
                    wanted.discard(doc["id"])
                    if not wanted:
                        break  # all found: the empty page that ends a listing is not asked for
        return docs

    def _mine(self, record: dict[str, Any]) -> bool:
        """Whether a job can be this provider's: another hub/group/project's job would
        answer "not found" here, which must not mark it gone."""
        theirs = _owner(record)
        return self.owner is None or theirs is None or theirs == self.owner

    def _own(self, record: dict[str, Any]) -> bool:
        """Whether a job can be this account's. The server shows an account only its own
        jobs (and those shared with it): its "not found" for a colleague's job in the same
        project says nothing about that job, so it must not be marked gone."""
        theirs = record.get("user_id")
        return self.user is None or not isinstance(theirs, str) or theirs == self.user

    def pending(self) -> int:
        """Archived jobs in scope still running (those gone from the server, or whose
        document this version cannot read, excepted)."""
        gone = set(self.archive.index.journal_get(GONE_CAMPAIGN))
        # The owner is in the stored doc: no record (and no blob) is read per job.
        rows = self.archive.select_rows(self._filter(final=False), ("job_id", "doc"))
        return sum(1 for job_id, doc in rows if job_id not in gone
                   and job_id not in self.given_up and job_id not in self.invisible and job_id not in self.unreadable
                   and self._mine(loads(doc)))

    def _tick(self, total_delta: int = 0, done: int = 0) -> None:
        if not self.progress:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=0, unit="job", desc="sync", leave=False)
        if total_delta:
            self.bar.total += total_delta
            self.bar.refresh()
        if done:
            self.bar.update(done)

    # --- the pass --------------------------------------------------------------------

    def _listed_again(self, job_ids: Iterable[str]) -> None:
        """Jobs marked gone (or given up) that the server lists once more are looked at
        again (a gone one gets a ``listed-again`` event)."""
        job_ids = list(job_ids)
        back = [j for j in job_ids if j in self.gone]
        if back:
            # The history must not end on "gone" while the job is synced as any other.
            with self.archive.index.transaction():
                self.archive.index.record_events(
                    (j, "listed-again", None, "the server lists the job again (it had "
                     "answered 'not found')", "sync") for j in back if j in self.archive)
                self.archive.index.journal_delete(GONE_CAMPAIGN, back)
            self.gone.difference_update(back)
            self.revived.update(back)
        self._clear_strikes(job_ids)

    def _clear_strikes(self, job_ids: Iterable[str], results: bool = False) -> None:
        """The server lists these jobs, or answered for them: no longer unlisted (and, with
        ``results``, their payloads are in hand)."""
        job_ids = list(job_ids)
        held = [j for j in job_ids if j in self.result_strikes] if results else []
        if held:
            self.archive.index.journal_delete(RESULT_GONE_CAMPAIGN, held)
            for job_id in held:
                del self.result_strikes[job_id]
                self.results_given_up.discard(job_id)
        cleared = [j for j in job_ids if j in self.strikes]
        if not cleared:
            return
        self.archive.index.journal_delete(UNLISTED_CAMPAIGN, cleared)
        for job_id in cleared:
            del self.strikes[job_id]
            if job_id in self.given_up:
                self.given_up.discard(job_id)
                self.revived.add(job_id)

    def _strike(self, job_id: str, error: str, result: bool = False) -> None:
        """A remembered job the server did not list, and whose request by id failed (not
        "not found"), or (``result``) a DONE job whose result the server answers it holds
        no longer: reported in ``failed``, then given up after ``unlisted_limit`` syncs."""
        strikes = self.result_strikes if result else self.strikes
        state, payload = strikes.get(job_id, (None, None))
        try:
            note = json.loads(payload or "{}")
        except ValueError:
            note = {}
        syncs = note.get("syncs") if isinstance(note, dict) else None
        syncs = syncs if isinstance(syncs, int) and syncs >= 0 else 0
        if not isinstance(note, dict) or note.get("sync") != self.sync_id:
            syncs += 1  # once per sync: follow=True passes are minutes apart, not days
        state = "given-up" if syncs >= self.unlisted_limit else "trying"
        entry = (state, json.dumps({"syncs": syncs, "sync": self.sync_id, "why": error}))
        self.strikes_due.setdefault(RESULT_GONE_CAMPAIGN if result else UNLISTED_CAMPAIGN,
                                    []).append((job_id, *entry))
        strikes[job_id] = entry
        if result and state == "given-up":
            self.results_given_up.add(job_id)
            self.report.failed.pop(job_id, None)
            self.report.given_up[job_id] = (
                f"given up after {syncs} syncs: the server no longer serves this job's result "
                f"(it answers {error}; where results are served once, another client may have "
                "read it); the job is archived without its result. A full sync (jobarchive "
                "sync --full) asks again")
        elif result:
            self.report.failed[job_id] = (
                f"{error} (the server holds no result for this job: {syncs} of "
                f"{self.unlisted_limit} syncs before it is given up)")
        elif state == "given-up":
            self.given_up.add(job_id)
            self.report.failed.pop(job_id, None)
            kept = ("its archived record is kept as it is" if job_id in self.archive
                    else "it was never archived")
            self.report.given_up[job_id] = (
                f"given up after {syncs} syncs: the server no longer lists this job and "
                f"answers {error}; {kept}. It is asked for again when the server lists it "
                "again, or by a full sync (jobarchive sync --full)")
        else:
            self.report.failed[job_id] = (
                f"{error} (the server no longer lists this job: {syncs} of "
                f"{self.unlisted_limit} syncs before it is given up)")

    def _put_strikes(self) -> None:
        """Write the strikes noted since the last call."""
        if self.strikes_due:
            with self.archive.index.transaction():
                for campaign, entries in self.strikes_due.items():
                    self.archive.index.journal_put(campaign, entries)
            self.strikes_due = {}

    def run(self) -> None:
        self.revived: set[str] = set()
        # Jobs this pass refreshed already: one that failed is on the retry list, which the
        # next sync (or follow pass) reads; asking again at once doubled its requests.
        self.tried: set[str] = set()
        self.no_qobj = set(self.archive.index.journal_get(NO_QOBJ_CAMPAIGN))
        self.no_result = set(self.archive.index.journal_get(NO_RESULT_CAMPAIGN))
        self.unarchived: set[str] = set()  # new jobs not archived (reported, remembered)
        self.bad_entries = 0  # listed entries that are no job document (skipped, reported)
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="jobarchive-sync") as pool:
                self.pool = pool
                try:
                    self._changed_jobs()
                    self._missing_payloads()
                    self._unarchived_again()
                    self._discover()
                    if self.full:
                        self._full_metadata()
                    if self.revived:
                        self._missing_payloads()  # their payloads, now that they answer again
                except BaseException:
                    # Ctrl-C (or any escape), wherever it lands (a listing, a write): the
                    # requests under way on the pool, acknowledgements included, stop at their
                    # next attempt or backoff wait, so the pool's shutdown does not sit out
                    # their retry ladders.
                    self._cancel.set()
                    raise
        finally:
            if self.bar is not None:
                self.bar.close()

    def _changed_jobs(self) -> None:
        # Every non-final job is refreshed (queue position and estimates move while the status
        # string stays), from full documents listed by id; only records that differ are written.
        ids = [r[0] for r in self.archive.select_rows(self._filter(final=False), ("job_id",))]
        records = {j: self._stored(j) for j in ids}
        ids = [j for j in ids if self._mine(records[j])]
        for chunk in _chunks(ids, self.batch_size):
            docs = self._full_docs(chunk)
            # A job marked gone is looked at again only when the server lists it once more.
            self._listed_again(j for j in chunk if j in docs)
            # A job the bulk list does not return (deleted?) is refreshed on its own: gone
            # when the server says so, otherwise reported and retried next pass. A
            # colleague's job this account cannot see is left to the colleague's sync.
            hidden = [j for j in chunk if j not in docs and not self._own(records[j])]
            self.invisible.update(hidden)
            work = [_Work(j, record=records[j], doc=docs.get(j), unlisted=j not in docs)
                    for j in chunk if j not in self.gone and j not in hidden
                    and j not in self.given_up]
            self.tried.update(w.job_id for w in work)
            self._run(work)

    def _missing_payloads(self) -> None:
        # Found from the rows themselves, not only from the retry list: a kill between a
        # batch's commit and the retry list's update must not leave a payload behind.
        retry = self.archive.index.journal_get(RETRY_CAMPAIGN)
        rows = self.archive.select_rows(self._filter(statuses=["DONE"]),
                                        ("job_id", "has_result", "has_qobj", "kind"))
        ids = [job_id for job_id, has_result, has_qobj, kind in rows if kind is not None and (
            (not has_result and job_id not in self.results_given_up)
            or (not has_qobj and kind != ApiJobKind.RUNTIME.value
                and job_id not in self.no_qobj))]
        rows = self.archive.select_rows(self._filter(statuses=["ERROR", "CANCELLED"]),
                                        ("job_id", "api_status", "has_result", "has_qobj", "kind"))
        ids += [job_id for job_id, api_status, has_result, has_qobj, kind in rows
                if (_may_have_partial_result(api_status, kind) and (
                    (not has_result and job_id not in self.no_result)
                    or (not has_qobj and job_id not in self.no_qobj)))
                or (api_status in QOBJ_ONLY_STATUSES and kind is not None
                    and kind != ApiJobKind.RUNTIME.value and not has_qobj
                    and job_id not in self.no_qobj)]
        ids += [j for j in retry if j in self.archive]
        ids += self._jobs_of_lost_blobs()
        stale = [j for j in retry if j in self.gone]
        if stale:
            self.archive.index.journal_delete(RETRY_CAMPAIGN, stale)
        work = []
        for job_id in dict.fromkeys(ids):
            if job_id in self.gone or job_id in self.given_up or job_id in self.tried:
                continue
            record = self._stored(job_id)
            if not self._mine(record):
                continue
            needs_refresh = job_id in retry or record["status"] not in API_FINAL_STATUSES
            work.append(_Work(job_id, record=record, refresh=needs_refresh))
        # Jobs to refresh are listed by id first (100 a request): a full document saves its
        # GET, and a job the server no longer lists is told from one it lists.
        docs = self._full_docs([w.job_id for w in work if w.refresh])
        self._listed_again(docs)
        for w in work:
            if w.refresh:
                w.doc = docs.get(w.job_id)
                w.unlisted = w.doc is None
        self._run(work)

    def _unarchived_again(self) -> None:
        """New jobs an earlier pass (of this scope) listed but could not archive are asked for
        again, by id: e.g. a job whose status string this version did not know is archived
        once it can be, a job whose fetch failed once it answers."""
        entries = self.archive.index.journal_get(UNARCHIVED_CAMPAIGN)
        why: dict[str, str] = {}
        for job_id, (_state, payload) in entries.items():
            try:
                note = json.loads(payload or "{}")
            except ValueError:
                note = {}
            if isinstance(note, dict) and note.get("scope") == self.scope_key:
                why[job_id] = str(note.get("why") or "refused")
        archived = self.archive.index.existing(list(why))
        if archived:  # archived meanwhile (e.g. by another scope's sync)
            self.archive.index.journal_delete(UNARCHIVED_CAMPAIGN, list(archived))
        ids = [j for j in why if j not in archived and j not in self.given_up]
        if not ids:
            return
        self.unarchived.update(ids)
        try:
            docs = self._full_docs(ids)
        except ApiError as err:  # reported; discovery (which lists too) goes on regardless
            for job_id in ids:
                self.report.failed[job_id] = f"{why[job_id]} (asking again failed: {err})"
            return
        self._clear_strikes(docs)
        work = [_Work(j, doc=docs[j]) for j in ids if j in docs]
        for job_id in ids:
            if job_id in docs:
                continue
            # Not listed now: deleted on the server, or hidden for a while.
            try:
                doc = self.client.job_get(job_id)
            except ApiError as err:
                if _job_not_found(err):
                    self.report.gone[job_id] = str(api_error(err))
                    self.archive.index.journal_delete(UNARCHIVED_CAMPAIGN, [job_id])
                    self.unarchived.discard(job_id)
                    self._clear_strikes([job_id])
                else:
                    self._strike(job_id, f"{why[job_id]} (now: {type(err).__name__}: {err})")
                continue
            self._clear_strikes([job_id])
            work.append(_Work(job_id, doc=doc))
        self._put_strikes()
        self._run(work, discovered=True)

    def _discover(self) -> None:
        # A key of an older version (the backend name or "*" alone) may belong to another
        # provider: it is never read, so the first pass under the new key lists everything.
        use_cursor = self.scope_key is not None and self.start_us is None and self.end_us is None
        cursor_entry = (self.archive.index.journal_get(CURSOR_CAMPAIGN).get(self.scope_key)
                        if use_cursor else None)
        since = None
        if use_cursor and cursor_entry is not None:
            since = int(cursor_entry[1]) - self.overlap_us
        docs = self._list(self._where(since), full=True)
        frozen = False  # the cursor never moves past a new job that could not be archived
        for page in _chunks(docs, self.batch_size):
            bad = [d for d in page if not _doc_id(d)]
            if bad:
                # Skipped and reported, as qiskit discards them (reference §6): an entry with
                # no id can be neither archived nor asked for again, and raising here made
                # every later sync stop at it, archiving no job of the account ever again.
                for entry in bad:
                    self.bad_entries += 1
                    self.report.failed[f"(list entry {self.bad_entries} without a job id)"] = (
                        f"{IBMQBackendApiProtocolError.__name__}: the server's job list holds "
                        f"an entry that is not a job document; skipped: {entry!r:.100}")
                page = [d for d in page if _doc_id(d)]
            known = self.archive.index.existing([d["id"] for d in page])
            self._listed_again(known)
            # One work item per job, even when a page lists a job twice.
            work = list({d["id"]: _Work(d["id"], doc=d) for d in page
                         if d["id"] not in known}.values())
            self._run(work, discovered=True)
            if not use_cursor or frozen:
                continue
            # A new job not archived is remembered (asked for by id every pass): it must
            # not hold the cursor, or every sync would list all later jobs again. Any other
            # (none expected) is listed again next pass.
            lost = [_date_us(d) for d in page if d["id"] in self.report.failed
                    and d["id"] not in self.unarchived and d["id"] not in self.archive]
            if lost:
                frozen = True
                if None in lost:
                    continue
                last = min(lost)  # listed again next pass (the cursor bound is inclusive)
            else:
                last = max(filter(None, map(_date_us, page)), default=None)
                if last is None:
                    continue
            self.archive.index.journal_put(CURSOR_CAMPAIGN, [(self.scope_key, "cursor", str(last))])

    def _full_metadata(self) -> None:
        # Full documents: the real server's job list (Jobs/status/v/1) leaves name and tags
        # out, and a field a listing does not carry is never read as "now empty" (it would
        # wipe the archived name and tags of every job).
        for page in _chunks(self._list(self._where(), full=True), self.batch_size):
            known = self.archive.index.existing([d["id"] for d in page if _doc_id(d)])
            self._listed_again(known)
            page = self._in_full(page, known)
            updates: list[tuple[str, list[str], str | None]] = []
            moved: list[_Work] = []
            for d in page:
                old = known.get(_doc_id(d))
                if old is not None and _status_moved(old[0], d):
                    # Re-read whole (name and tags too); a normal pass never looks at final
                    # jobs again, so this is where a changed final status is caught.
                    moved.append(_Work(d["id"], record=self._stored(d["id"]), doc=d))
                    continue
                full_doc = is_full_doc(d)
                if old is None or not (full_doc or "tags" in d or "name" in d):
                    continue
                old_tags, old_name = json.loads(old[1]), old[2]
                # A full document leaves out the tags and name of a job given none (as the
                # real server's do, and refresh() reads them so); a list item may leave
                # them out whatever the job holds.
                tags = (d["tags"] or []) if "tags" in d else [] if full_doc else old_tags
                name = d["name"] if "name" in d else None if full_doc else old_name
                if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) \
                        or not isinstance(name, (str, type(None))):
                    # A garbled listing must not overwrite good metadata (a str is no tag list).
                    self.report.failed[d["id"]] = "IBMQBackendApiProtocolError: the server " \
                        "listed the job with tags or a name of the wrong type"
                    continue
                if old_tags != tags or old_name != name:
                    updates.append((d["id"], list(tags), name))
            if updates:
                # Records without payloads: the stored result and qobj (and their blob) stay
                # as they are; records read whole would be written again, to a new blob file.
                bare = self.archive.records_without_payloads([job_id for job_id, _, _ in updates])
                self.archive.add_many([{**bare[job_id], "tags": tags, "name": name}
                                       for job_id, tags, name in updates], source="sync")
                self.report.changed += len(updates)
            self._run(moved)
            # A job listed now that discovery's cursor has passed (it was hidden or not found
            # when its time came) is archived too: a full pass leaves no listed job out.
            new = list({d["id"]: _Work(d["id"], doc=d)
                        for d in page if _doc_id(d) and d["id"] not in known}.values())
            self._run(new, discovered=True)
            # The jobs compared count as done too: listing a big account takes minutes.
            compared = len(page) - len(moved) - len(new)
            self._tick(total_delta=compared, done=compared)

    def _in_full(self, page: list[Any], known: dict[str, tuple]) -> list[Any]:
        """``page`` with the lean items of archived final jobs replaced by their documents
        read by id (``GET J/v/1``, on the pool): a server without full lists (the older
        one) lists no name or tags, and comparing nothing left every edit made elsewhere
        out of the archive. Non-final jobs were refreshed earlier in the pass."""
        lean = [d["id"] for d in page if _doc_id(d) in known and not is_full_doc(d)
                and "tags" not in d and "name" not in d
                and str(known[d["id"]][0]).upper() in API_FINAL_STATUSES
                and d["id"] not in self.gone]
        if not lean:
            return page
        read: dict[str, dict[str, Any]] = {}
        for job_id, doc, err in self.pool.map(self._read_by_id, lean):
            if isinstance(doc, dict) and doc.get("id", job_id) == job_id:
                read[job_id] = {"id": job_id, **doc}
            elif err is not None and not _job_not_found(err):  # not found: deleted since
                self.report.failed[job_id] = (
                    f"{type(err).__name__}: {err} (reading its name and tags for the full "
                    "comparison; the next full sync asks again)")
        if self._server_down():
            raise self._give_up()
        return [read.get(_doc_id(d) or "", d) for d in page]

    def _read_by_id(self, job_id: str) -> tuple[str, Any, BaseException | None]:
        """Runs on a worker thread: one job's document, or the error (neither once the
        server is taken for down: the rest of the page is not asked)."""
        if not self._start():
            return job_id, None, None
        err: BaseException | None = None
        doc = None
        try:
            with self._cancellable():
                doc = self.client.job_get(job_id)
        except ApiError as caught:
            err = caught
        finally:
            self._end(err)
        return job_id, doc, err

    def _stored(self, job_id: str) -> dict[str, Any]:
        """The archived record; without payloads when their blob file is lost (missing or
        unreadable): they are fetched again, where one lost file ended every sync."""
        try:
            return self.archive.record(job_id)
        except BlobIntegrityError:
            return self.archive.records_without_payloads([job_id])[job_id]

    def _jobs_of_lost_blobs(self) -> list[str]:
        """Jobs whose blob file is missing or truncated (one stat a file, no hashing), so
        that their payloads are fetched again while the server still serves them."""
        lost = {blob_id: path for blob_id, path, _, size, _ in self.archive.index.blobs()
                if self.archive.blobs.verify_exists(path, size) is not None}
        if not lost.keys() & self.archive.index.referenced_blob_ids():
            return []
        paths = set(lost.values())
        return [job_id for job_id, path, _ in self.archive.index.locations(None) if path in paths]

    # --- network work and batched writes ---------------------------------------------

    def _server_down(self) -> bool:
        with self._breaker:
            return self._failures.down

    def _give_up(self) -> RequestsApiError:
        last, in_a_row = self._failures.last, self._failures.in_a_row
        said = str(last).rstrip(".")  # its hint may end a sentence ('try again later.')
        if last is not None and last.status_code == 401:
            return RequestsApiError(
                f"Sync stopped early: the server refused the access token for "
                f"{in_a_row} jobs in a row; the last error: {said}. Everything "
                "fetched so far is archived; run sync again with a valid token to resume.",
                401, last.error_code)
        return RequestsApiError(
            f"Sync stopped early: the server failed {in_a_row} jobs in a row "
            f"(unreachable, answering 5xx or rate limiting); the last error: {said}. Everything "
            "fetched so far is archived; run sync again to resume.",
            last.status_code if last is not None else -1,
            last.error_code if last is not None else None)

    def _run(self, work: list[_Work], discovered: bool = False) -> None:
        if not work:
            return
        self._tick(total_delta=len(work))
        # A few jobs in flight per worker, written in batches of `batch_size` jobs or
        # `batch_bytes` of downloaded answers, whichever comes first: big results (every
        # shot's memory) must not all sit in memory at once before a batch is written.
        ahead: deque[tuple[_Work, Future[_Outcome]]] = deque()
        todo = iter(work)
        chunk: list[_Work] = []
        outcomes: list[_Outcome] = []
        held = 0
        while True:
            while len(ahead) < 2 * self.workers and (item := next(todo, None)) is not None:
                ahead.append((item, self.pool.submit(self._fetch_noted, item)))
            if not ahead:
                break
            item, future = ahead.popleft()
            outcome = future.result()
            chunk.append(item)
            outcomes.append(outcome)
            held += outcome.size
            if len(chunk) >= self.batch_size or held >= self.batch_bytes or not ahead:
                stop = self._write(chunk, outcomes, discovered)
                chunk, outcomes, held = [], [], 0
                if stop:
                    # The jobs already under way end at once (skipped) or bring what they
                    # fetched, which is written too.
                    rest = [(i, f.result()) for i, f in ahead]
                    ahead.clear()
                    if rest:
                        self._write([i for i, _ in rest], [o for _, o in rest], discovered)
                    raise self._give_up()

    def _write(self, chunk: list[_Work], outcomes: list[_Outcome], discovered: bool) -> bool:
        """Write one batch of outcomes (blob first, then rows) and the journals; True when
        the pass must stop (jobs skipped, or the server is down)."""
        records, failures, fixed = [], [], []
        settled: list[str] = []  # retried no more, though not fixed (a result given up)
        nones: dict[str, list[tuple[str, str, str | None]]] = {}
        gone: list[tuple[_Work, str]] = []
        unarchived: list[tuple[str, str, str | None]] = []
        for item, outcome in zip(chunk, outcomes, strict=True):
            if outcome.skipped:
                continue  # never tried: its retry entry (if any) stays
            if outcome.refused is not None:
                self.report.failed[item.job_id] = outcome.refused
                self.unarchived.add(item.job_id)  # reported: it holds no cursor back
                if outcome.remember:
                    unarchived.append((item.job_id, "refused", json.dumps(
                        {"scope": self.scope_key, "why": outcome.refused})))
                continue
            record, fetched, error = outcome.record, outcome.fetched, outcome.error
            if outcome.gone is not None and item.record is not None \
                    and not self._own(item.record):
                continue  # a colleague's job this account cannot see: not gone, not ours
            if outcome.gone is not None:
                self.report.gone[item.job_id] = outcome.gone
                self.report.failed.pop(item.job_id, None)  # from an earlier pass
                if item.record is not None:
                    gone.append((item, outcome.gone))
                fixed.append(item.job_id)
                continue
            if outcome.unreadable:
                self.unreadable.add(item.job_id)
            for campaign, message in outcome.none:
                nones.setdefault(campaign, []).append((item.job_id, "none", message))
            if record is not None:
                if item.refresh and item.record is not None:  # a new job is "discovered"
                    self.report.refreshed += 1
                if item.record is None or record != item.record:
                    records.append(record)  # an unchanged record is not written again
                    # changed counts among the refreshed: payloads fetched again for a lost
                    # blob file are results_fetched, not a change the server made
                    self.report.changed += item.record is not None and item.refresh
                if discovered:
                    self.report.discovered += 1
                self.report.results_fetched += fetched
            # Unlisted and not answering (a job that answers when asked is not given up).
            # A colleague's job this account cannot see says nothing about the job itself:
            # giving it up here would stop the colleague's syncs asking for it too.
            if error is not None and item.unlisted and record is None \
                    and not outcome.unreadable \
                    and (item.record is None or self._own(item.record)):
                    self._strike(item.job_id, error)
                    if item.job_id in self.given_up:
                        continue  # its retry entry stays, unused until it is asked again
            elif error is not None and outcome.result_gone is not None and record is not None:
                self._strike(item.job_id, outcome.result_gone, result=True)
                if item.job_id in self.results_given_up:
                    settled.append(item.job_id)  # archived as it can be: not retried
                    continue
            elif error is not None:
                self.report.failed[item.job_id] = error
            if error is not None:
                if record is None and item.record is None:  # a new job, not archived
                    self.unarchived.add(item.job_id)
                    unarchived.append((item.job_id, "failed", json.dumps(
                        {"scope": self.scope_key, "why": error})))
                else:
                    failures.append((item.job_id, "failed", error))
            else:
                fixed.append(item.job_id)
                # Failed in an earlier pass of this sync (follow=True), done now.
                self.report.failed.pop(item.job_id, None)
        self._clear_strikes(fixed, results=True)
        if records:
            self.archive.add_many(records, source="sync")
        if unarchived:
            self.archive.index.journal_put(UNARCHIVED_CAMPAIGN, unarchived)
        archived = [r["job_id"] for r in records if r["job_id"] in self.unarchived]
        if archived:  # not archived before, archived now
            self.archive.index.journal_delete(UNARCHIVED_CAMPAIGN, archived)
            self.unarchived.difference_update(archived)
        acked = [o.record["job_id"] for o in outcomes if o.fetched and o.record is not None]
        for job_id in acked:  # archived now: the server may let the result go
            self.pool.submit(self._acknowledge, job_id)
        for campaign, entries in nones.items():  # after the rows: a kill re-asks, once
            self.archive.index.journal_put(campaign, entries)
        if gone:
            # The record stays as archived (lossless); an event and a mark say it is gone.
            with self.archive.index.transaction():
                self.archive.index.record_events(
                    (i.job_id, "gone", i.record["status"], msg, "sync") for i, msg in gone)
                self.archive.index.journal_put(
                    GONE_CAMPAIGN, [(i.job_id, "gone", msg) for i, msg in gone])
            self.gone.update(i.job_id for i, _ in gone)
        skipped = [i for i, o in zip(chunk, outcomes, strict=True) if o.skipped]
        self._put_strikes()
        if failures:
            self.archive.index.journal_put(RETRY_CAMPAIGN, failures)
        retry = self.archive.index.journal_get(RETRY_CAMPAIGN)
        cleared = [j for j in fixed + settled if j in retry]
        if cleared:
            self.archive.index.journal_delete(RETRY_CAMPAIGN, cleared)
        self._tick(done=len(chunk))
        # Before the caller moves the discovery cursor past jobs never tried.
        return bool(skipped) or self._server_down()

    def _acknowledge(self, job_id: str) -> None:
        """Best effort, on the pool: none once the pass is giving up or interrupted (a dead
        server would hold each one for its whole retry ladder)."""
        if self._cancel.is_set() or self._server_down():
            return
        with self._cancellable():
            self.client.job_result_downloaded(job_id)

    def _cancellable(self) -> AbstractContextManager[Any]:
        """Requests of this thread stop once the pass is interrupted."""
        return cancellable(self.client, self._cancel)

    def _fetch_noted(self, item: _Work) -> _Outcome:
        if not self._start():
            return _Outcome(skipped=True)
        err: BaseException | None = None
        received = getattr(self.client, "thread_bytes_received", None)
        before = received if isinstance(received, int) else 0
        try:
            with self._cancellable():
                outcome, err = self._fetch(item)
            after = getattr(self.client, "thread_bytes_received", None)
            outcome.size = after - before if isinstance(after, int) else 0
        finally:
            self._end(err)
        return outcome

    def _start(self) -> bool:
        """Whether a worker may start its job (False: the server is taken for down)."""
        with self._breaker:
            # After a transport failure, no new job starts until the ones under way tell
            # whether the server is down: a dead server costs one round of retries, not two.
            while self._failures.in_a_row and not self._failures.down and self._in_flight:
                self._breaker.wait()
            if self._failures.down:
                return False
            self._in_flight += 1
            return True

    def _end(self, err: BaseException | None) -> None:
        """A started job ended, with ``err`` or None."""
        with self._breaker:
            self._in_flight -= 1
            self._failures.note(err)
            self._breaker.notify_all()

    def _fetch(self, item: _Work) -> tuple[_Outcome, BaseException | None]:
        """Runs on a worker thread: network only, no archive access. The error, if any,
        comes back too (for the dead-server check)."""
        try:
            if item.record is not None:
                job = IBMQJob._from_record(dict(item.record), None, self.job_client)
            else:
                job = IBMQJob.from_server(item.doc, api_client=self.job_client)
            if item.refresh and is_full_doc(item.doc):
                job.refresh_from(item.doc)
            elif item.refresh:
                job.refresh()  # not listed, or listed without the full document: GET J/v/1
                if item.record is not None:
                    _keep_unsaid(job._record, item.record)
        except (IBMQError, ApiError, ValueError) as err:
            if _job_not_found(err):
                return _Outcome(gone=str(api_error(err))), None
            if item.record is None and _refusal(err) is not None:
                # The server answered; the library cannot take this document as a job.
                refusal = _refusal(err)
                return _Outcome(refused=_refused_text(item.doc, refusal),
                                remember=refusal.field != "job_id"), None
            if _refusal(err) is not None:  # archived: kept as it is, reported, retried
                return _Outcome(error=f"{type(err).__name__}: {err}", unreadable=True), None
            return _Outcome(error=f"{type(err).__name__}: {err}"), err
        out = _Outcome()
        failure: BaseException | None = None
        partial_held = False
        try:
            record = job._record
            if item.record is not None and record["status"] == "COMPLETED" \
                    and item.record["status"] in PARTIAL_RESULT_STATUSES:
                # Completed after all: the result held is the failed run's partial one.
                partial_held = record.get("result") is not None
                record["result"] = None
            if record["status"] == "COMPLETED" and record.get("kind") is not None:
                if record.get("result") is None and item.job_id not in self.results_given_up:
                    try:
                        job.result(timeout=0)
                    except (IBMQError, ApiError) as err:
                        if _no_such_payload(err):  # counted, and given up after a few syncs
                            out.result_gone = f"{type(err).__name__}: {err}"
                        # What ran is archived even while its result cannot be had.
                        with suppress(IBMQError, ApiError):
                            self._fetch_qobj(job, out)
                        raise
                    out.fetched = 1
                self._fetch_qobj(job, out)
            elif _may_have_partial_result(record["status"], record.get("kind")):
                # It ran: its qobj is what ran, which an audit of its partial result needs.
                if record.get("result") is None and item.job_id not in self.no_result:
                    out.fetched = self._fetch_partial_result(job, out)
                self._fetch_qobj(job, out)
            elif record["status"] in QOBJ_ONLY_STATUSES and record.get("kind") is not None:
                self._fetch_qobj(job, out)
        except (IBMQError, ApiError, ValueError) as err:
            if _job_not_found(err):
                return _Outcome(gone=str(api_error(err))), None
            # The refreshed record is still worth keeping; the payload is retried next pass.
            out.error = f"{type(err).__name__}: {err}"
            failure = err
            if partial_held:
                # Written without a result, the record would keep the stored (partial) one
                # as the completed job's result: the job stays as archived until the full
                # result is in hand (retried every pass).
                return out, failure
        out.record = job.to_dict()
        return out, failure

    def _fetch_qobj(self, job: IBMQJob, out: _Outcome) -> None:
        """The job's qobj unless held, a runtime job's (none by design) or known absent."""
        record = job._record
        if record.get("qobj") is not None or record.get("kind") == ApiJobKind.RUNTIME.value \
                or job.job_id() in self.no_qobj:
            return
        try:
            job.qobj()
        except (IBMQError, ApiError) as err:
            if not _no_such_payload(err):
                raise
            out.none.append((NO_QOBJ_CAMPAIGN, str(err)))

    def _fetch_partial_result(self, job: IBMQJob, out: _Outcome) -> int:
        """The partial result of a failed job, as ``result(partial=True)`` reads it; 1 when
        kept. ``IBMQJob`` swallows errors for failed jobs, so the call is made here to tell
        "the server holds none" (remembered) from trouble (retried)."""
        try:
            raw = self.job_client.job_result(job.job_id())
        except ApiError as err:
            if not _no_such_payload(err):
                raise
            out.none.append((NO_RESULT_CAMPAIGN, str(err)))
            return 0
        job._record["result"] = raw
        try:
            job._retrieve_result()  # kept only when it parses, as for DONE jobs
        except IBMQError:
            job._record["result"] = None
            raise
        return 1


class _AckAfterCommit:
    """The API client, except that result downloads are not acknowledged (``resultDownloaded``)
    at once: the sync acknowledges them once the results are archived, so a kill or a failed
    write in between cannot lose a result the server serves only once."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def job_result(self, job_id: str, acknowledge: bool = False) -> dict[str, Any]:
        return self._client.job_result(job_id, acknowledge=False)

    def job_result_downloaded(self, job_id: str) -> None:
        """Not yet: the sync acknowledges through the client itself after the commit."""


def _record_server(archive: Archive, provider: Any) -> None:
    url = getattr(provider, "auth_url", None)
    if not isinstance(url, str) or not url:
        return
    client = provider.api_client
    # The archive travels (copies, backups): a gateway's password in the URL stays out. A
    # later sync without --url then reaches the gateway without it and is refused.
    url = url_without_password(url)
    note = {"url": url, **{k: getattr(client, k, None) for k in ("hub", "group", "project")}}
    archive.index.journal_put(SERVER_CAMPAIGN, [("last", "server", json.dumps(note))])


def last_server(archive: Archive) -> dict[str, str | None] | None:
    """``{"url", "hub", "group", "project"}`` of the archive's last sync (auth URL), or None
    when no sync of this version recorded one."""
    entry = archive.index.journal_get(SERVER_CAMPAIGN).get("last")
    try:
        note = json.loads(entry[1] or "") if entry else None
    except ValueError:
        return None
    if not isinstance(note, dict) or not isinstance(note.get("url"), str) or not note["url"]:
        return None
    return {k: note.get(k) if isinstance(note.get(k), str) else None
            for k in ("url", "hub", "group", "project")}


def servers_seen(archive: Archive) -> list[str]:
    """The API URLs discovery cursors were kept for (by syncs of any version)."""
    urls = []
    for key in archive.index.journal_get(CURSOR_CAMPAIGN):
        try:
            parts = json.loads(key)
        except ValueError:
            continue
        if isinstance(parts, list) and len(parts) > 1 and parts[0] == "v2" \
                and isinstance(parts[1], str):
            urls.append(parts[1])
    return list(dict.fromkeys(urls))


def _cursor_key(provider: Any, backend_name: str | None) -> str | None:
    """The discovery cursor's key: server URL, hub/group/project, account and backend scope.

    Two providers (or two accounts of one project) see different jobs, so each has its own
    high-water mark. A provider that does not say where it points gets no cursor (every
    pass is a full discovery).
    """
    client = provider.api_client
    parts = [getattr(client, name, None) for name in ("http_url", "hub", "group", "project")]
    if not all(isinstance(p, str) and p for p in parts):
        return None
    user = getattr(client, "user_id", None)
    return json.dumps(["v2", *parts, user if isinstance(user, str) else "", backend_name or "*"],
                      separators=(",", ":"))


def cancellable(client: Any, cancel: threading.Event | None) -> AbstractContextManager[Any]:
    """This thread's requests stop at their next attempt or backoff wait once ``cancel`` is
    set (sync's and retag's worker pools, on Ctrl-C); clients without ``cancel_on`` run to
    their end."""
    cancel_on = getattr(client, "cancel_on", None)
    return cancel_on(cancel) if cancel is not None and cancel_on is not None else nullcontext()


def _may_have_partial_result(api_status: str, kind: str | None) -> bool:
    """A failed job whose result (partial) sits in object storage: fetched once, kept."""
    return api_status in PARTIAL_RESULT_STATUSES and kind == ApiJobKind.QOBJECT_STORAGE.value


class FailureRun:
    """Transport failures in a row across workers (sync and retag): a dead server is taken
    for down after ``give_up_after`` of them, not after every remaining job has climbed the
    retry ladder on its own. Not thread-safe: callers hold their own lock."""

    def __init__(self, give_up_after: int):
        self.give_up_after = give_up_after
        self.in_a_row = 0
        self.last: RequestsApiError | None = None

    @property
    def down(self) -> bool:
        """Whether the server is taken for down."""
        return self.in_a_row >= self.give_up_after

    def note(self, err: BaseException | None) -> None:
        """Count one request's outcome. A transport failure (no answer, 5xx, and also 429
        after every retry, a server asking for less, and 401 after the client's own login
        again, a revoked token that would refuse every remaining job) adds to the run; an
        answer (a success or another error) resets it; a local error says nothing."""
        api = api_error(err) if err is not None else None
        if api is not None and (api.status_code in (-1, 401, 429) or api.status_code >= 500):
            self.in_a_row += 1
            self.last = api
        elif err is None or api is not None:
            self.in_a_row = 0


def api_error(err: BaseException | None) -> RequestsApiError | None:
    """The HTTP error behind ``err`` (itself or a cause), if any."""
    while err is not None:
        if isinstance(err, RequestsApiError):
            return err
        err = err.__cause__
    return None


def _job_not_found(err: BaseException) -> bool:
    """Whether the server said the job does not exist (404 with code 3250)."""
    api = api_error(err)
    return api is not None and api.status_code == 404 and api.error_code == JOB_NOT_FOUND_CODE


def _owner(record: dict[str, Any]) -> tuple[str, str, str] | None:
    """(hub, group, project) a record's ``hub_info`` names, or None.

    Both shapes of real documents: ``{"hub": {"name": ...}, ...}`` and the flat
    ``{"hubName": ..., "groupName": ..., "projectName": ...}``."""
    info = record.get("hub_info")
    if not isinstance(info, dict):
        return None
    names = []
    for level in ("hub", "group", "project"):
        value = info.get(level, info.get(f"{level}Name"))
        if isinstance(value, dict):
            value = value.get("name")
        if not isinstance(value, str):
            return None
        names.append(value)
    return names[0], names[1], names[2]


def _refusal(err: BaseException | None) -> JobValidationError | None:
    """The validation error behind ``err`` (itself or a cause): the document was refused."""
    while err is not None:
        if isinstance(err, JobValidationError):
            return err
        err = err.__cause__
    return None


def _refused_text(doc: Any, err: JobValidationError) -> str:
    """Why a new job is not archived, in words a user can act on."""
    status = doc.get("status") if isinstance(doc, dict) else None
    if err.field == "status" and isinstance(status, str):
        return (f"not archived: the server reports its status as {status!r}, which this "
                "version of jobarchive does not know; every sync asks for it again (a newer "
                "jobarchive, or a known status on the server, archives it)")
    return (f"not archived: its server document was refused ({err}); every sync asks for "
            "it again")


def _no_such_payload(err: BaseException) -> bool:
    """Whether the server said it holds no such payload (a 404 other than "job not found")."""
    api = api_error(err)
    return api is not None and api.status_code == 404 and api.error_code != JOB_NOT_FOUND_CODE


def _status_moved(archived: str | None, doc: Any) -> bool:
    """Whether a listed full document reports a known status other than the archived one."""
    status = doc.get("status") if isinstance(doc, dict) else None
    return is_full_doc(doc) and isinstance(status, str) and isinstance(archived, str) \
        and status.upper() in API_TO_JOB_STATUS and status.upper() != archived.upper()


def is_full_doc(doc: Any) -> bool:
    """Whether a listed document is the full one ``GET J/v/1`` answers. Every full document
    has ``timePerStep`` (from its first step on); the list items of ``Jobs/status/v/1`` never
    do, and what the real ``Jobs/v/1`` answers was never recorded, so a document without it
    is not taken as the job's whole state (its name, tags and steps would be lost)."""
    return isinstance(doc, dict) and isinstance(doc.get("timePerStep"), dict)


def _keep_unsaid(record: dict[str, Any], stored: dict[str, Any]) -> None:
    """After a refresh from a lean answer (no ``timePerStep``: the older server's job
    documents, a trimmed one), keep the archived values of the fields it leaves out whatever
    the job holds: ``refresh()`` reads them as "none", which erased the job's steps, name,
    tags, share level, run mode and client info (a tags event said the server removed them).
    """
    if record.get("time_per_step"):
        return
    for key in _LEAN_UNSAID:
        if not record.get(key) and stored.get(key):
            record[key] = stored[key]
    if not record.get("error") and record.get("status") == stored.get("status"):
        record["error"] = stored.get("error")


def _doc_id(doc: Any) -> str | None:
    """The id of a listed job document, or None when the entry is not one."""
    if isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc["id"]:
        return doc["id"]
    return None


def _date_us(doc: dict[str, Any]) -> int | None:
    """A listed document's creation date in µs, or None when it is missing or garbled."""
    try:
        return to_utc_us(doc.get("creationDate"), "creationDate")
    except (IBMQError, TypeError, ValueError, OverflowError):
        return None


def _iso(us: int) -> str:
    return format_date(_EPOCH + timedelta(microseconds=us))
