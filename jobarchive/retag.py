"""Bulk retagging with ``IBMQJob.update_tags`` semantics, resumable after a crash.

Without a provider the change is local only (events ``source="local"``). With one, each
change goes to the server first, through ``IBMQJob.update_tags`` (so its echo check
applies), and only what the server confirmed is recorded locally (``source="remote"``).

A journal in the index makes a remote campaign resumable. Per batch:

1. every job about to be sent is journaled as ``sending`` (with the tags it will get), and
   logged for ``undo`` (so an undo after a kill reverts this run, on the server too),
2. the PUTs run on a bounded thread pool (the API client does the retries),
3. the tags the server confirmed are written to the archive (one transaction), and the
   entries dropped.

A re-run of the same tag operation after a kill skips jobs already recorded (the plan finds
nothing to change: the operation is idempotent), and for ``sending`` jobs (outcome unknown,
or confirmed but not archived) first reads the job from the server: if it already carries
the new tags nothing is re-sent. (An entry may be stale, the campaign re-run only after the
tags changed again: so one an older version journaled ``confirmed`` is checked too.) So each
change reaches the server once. Jobs the server refuses are reported with the reason; the
others go on. When several jobs in a row fail on the transport (no answer, 5xx or 429 after
the client's retries, 401), the server is taken to be down: the jobs not sent yet are not
tried, what was confirmed is recorded, and ``RequestsApiError`` says so; a re-run resumes.

As with ``update_tags`` on a job object, the new tags are computed from the tags the
archive holds (its cached copy). With ``read_server_tags=True`` (what ``jobarchive retag
--remote`` does) they are computed from the tags the server holds now, read 100 jobs a
request before each batch, as ``update_tags`` on a job just retrieved: tags changed on the
server since the last sync are kept instead of overwritten (the dry run reads them too).
Without it, run ``sync(provider, full=True)`` first if tags may have changed elsewhere. A
campaign is identified by its tag operation: re-run the same operation to finish an
interrupted one.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import pandas as pd

from .exceptions import (
    IBMQJobInvalidStateError,
    IBMQProviderError,
    JobNotFoundError,
    RequestsApiError,
)
from .job import IBMQJob, apply_tag_update
from .query import job_ids_of
from .status import API_FINAL_STATUSES
from .sync import FailureRun, _owner, api_error, cancellable, is_full_doc

if TYPE_CHECKING:
    from .archive import Archive

PLAN_COLUMNS = ("job_id", "old_tags", "new_tags", "added", "removed")
RESULT_COLUMNS = (*PLAN_COLUMNS, "outcome", "source", "error")
_ID_CHUNK = 800  # under SQLite's 999 bound parameters per statement
LOCAL_BATCH = 20_000  # jobs a transaction when no server is involved
_IDS_PER_LIST = 100  # ids in one `id inq` listing filter (as sync): a URL of a few KB
# Journal campaigns (not tag operations): the tags before/after of the last run that changed
# something, per job (what `undo` reverts), and the plan of an undo under way.
UNDO_LOG = "undo:last-run"
_UNDO_PENDING = "undo:pending"
_UNDO_PREFIX = "undo-of:"  # the log label of an undo's own changes
_SENT = "sent"  # an undo log entry of a change sent to the server but not archived (yet)
# The log and the undo plan of the run before, set aside by a run's first change until it
# leaves a change of its own (a run the server refused outright changed nothing).
_LOG_ASIDE = "undo:last-run-before"
_PENDING_ASIDE = "undo:pending-before"
# Answers that refuse a PUT whatever was sent before (a retry of a PUT whose answer was
# lost gets the same): bad request, forbidden, not found. Nothing was applied.
_REFUSED_OUTRIGHT = (400, 403, 404)


@dataclass
class _Plan:
    job_id: str
    record: dict[str, Any]
    old: list[str]
    new: list[str]
    outcome: str = "planned"
    source: str | None = None
    error: str | None = None
    server: list[str] | None = None  # the tags the server holds now, when read
    pushed: bool = False  # the server confirmed a PUT of this run
    provider: Any = None  # the provider of the project the job ran in (remote runs)
    op: tuple = (None, None, None)  # (replacement, additional, removal) for this job
    read: bool = False  # plan from the tags the server holds (read before its batch)

    @property
    def changed(self) -> bool:
        """Anything to write: on the archive, or (when its tags were read) on the server."""
        return set(self.old) != set(self.new) or (
            self.server is not None and set(self.server) != set(self.new))

    def row(self) -> tuple:
        old, new = set(self.old), set(self.new)
        return (self.job_id, list(self.old), list(self.new), [t for t in self.new if t not in old],
                [t for t in self.old if t not in new], self.outcome, self.source, self.error)


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def campaign_name(replacement: list[str] | None, additional: list[str] | None,
                  removal: list[str] | None) -> str:
    """The journal key of a tag operation: re-running the same operation resumes it."""
    spec = json.dumps([replacement, sorted(set(additional or [])), sorted(set(removal or []))])
    return "retag:" + hashlib.sha256(spec.encode()).hexdigest()[:16]


def _frame(plans: list[_Plan], columns: Sequence[str]) -> pd.DataFrame:
    rows = [p.row()[: len(columns)] for p in plans]
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["job_id"] = frame["job_id"].astype("string")
    for col in ("outcome", "source", "error"):
        if col in frame:
            frame[col] = frame[col].astype("string")
    return frame


def retag(
    archive: Archive,
    job_ids: Any,
    replacement_tags: list[str] | None = None,
    additional_tags: list[str] | None = None,
    removal_tags: list[str] | None = None,
    provider: Any = None,
    dry_run: bool = False,
    workers: int = 8,
    progress: bool | None = None,
    lock_timeout: float | None = 0.0,
    batch_size: int = 500,
    read_server_tags: bool = False,
    undo_label: str | None = None,
) -> pd.DataFrame:
    """Change the tags of many archived jobs, the way ``IBMQJob.update_tags`` changes one.

    ``job_ids``: a list of ids or a ``query()`` DataFrame. Order of operations: replace (only
    if a list; ``[]`` clears), add, remove; ``ibmq_jobset_`` tags always survive.

    ``dry_run=True`` returns the plan (``job_id, old_tags, new_tags, added, removed``) and
    writes nothing. Otherwise the frame also has ``outcome`` ("updated", "unchanged" or
    "refused"), ``source`` ("local"/"remote") and ``error`` (the server's reason for a
    refusal); ``frame.attrs["summary"]`` counts them. With ``provider`` every change is
    pushed to the server first on ``workers`` threads; see the module docstring for how an
    interrupted run resumes; ``read_server_tags=True`` plans from the server's current tags
    (see the module docstring). Takes the archive's write lock (``ArchiveLockedError`` after
    ``lock_timeout`` seconds; None waits). Unknown job ids raise ``JobNotFoundError``
    before anything is written. Each job's tags before and after are logged for ``undo``
    (under ``undo_label``, default the operation: re-running it adds to the same log).
    """
    if progress is None:  # bars only on a terminal: a cron job's log gets none
        progress = sys.stderr.isatty()
    ids = job_ids_of(job_ids)
    if ids is None:
        raise ValueError("job_ids is required: a list of job ids or a query() DataFrame")
    ids = list(dict.fromkeys(ids))
    replacement = list(replacement_tags) if isinstance(replacement_tags, list) else None
    # Validate the operation once, with update_tags' own errors, before touching anything.
    apply_tag_update([], replacement_tags, additional_tags, removal_tags, IBMQJobInvalidStateError)
    campaign = campaign_name(replacement, additional_tags, removal_tags)
    return _run(archive, [(ids, (replacement_tags, additional_tags, removal_tags),
                           read_server_tags)], campaign, undo_label or campaign, provider,
                dry_run, workers, progress, lock_timeout, batch_size)


def _run(archive: Archive, groups: list[tuple[list[str], tuple, bool]], campaign: str,
         undo_label: str, provider: Any = None, dry_run: bool = False, workers: int = 8,
         progress: bool = False, lock_timeout: float | None = 0.0, batch_size: int = 500,
         desc: str = "retag", locked: bool = False) -> pd.DataFrame:
    """``retag`` of ``groups`` of (job ids, operation, read_server_tags), as one run: an
    undo's thousands of inverse operations share its batches, transactions and workers.
    ``locked``: the caller holds the archive's write lock."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if dry_run:
        plans = _plan(archive, groups, progress, desc)
        read = provider is not None and any(p.read for p in plans)
        if provider is not None:
            _route(provider, plans)
        if read:  # reads only: what a run would send
            from tqdm import tqdm

            # A request per 100 jobs: thousands of jobs take a while, show it.
            breaker = _Breaker(workers)
            with tqdm(total=len(plans), desc="read server tags", unit="job",
                      disable=not progress, leave=False) as bar:
                for batch in _chunks(plans, _IDS_PER_LIST):
                    for sub, group in _by_project(provider, [p for p in batch if p.read]):
                        _read_server_tags(sub, group, breaker=breaker)
                    breaker.check()
                    bar.update(len(batch))
        frame = _frame(plans, PLAN_COLUMNS)
        if read:
            # What the server holds now (None: not read): a job whose archive copy is
            # already right may still need a PUT.
            frame["server_tags"] = [p.server for p in plans]
        frame.attrs["summary"] = {"jobs": len(plans),
                                  "would_change": sum(p.changed for p in plans)}
        if provider is not None:
            # Jobs a run would refuse without sending (their project, or their tags, could
            # not be reached): frame.attrs["refused"] says why, per job.
            refused = {p.job_id: p.error for p in plans if p.outcome == "refused"}
            frame.attrs["summary"]["refused"] = len(refused)
            frame.attrs["refused"] = refused
        return frame

    known: set[str] = set()
    ids = [j for group_ids, _, _ in groups for j in group_ids]
    for chunk in _chunks(ids, _ID_CHUNK):
        known.update(archive.index.existing(chunk))
    missing = [j for j in ids if j not in known]
    if missing:  # before the lock, so a bad id leaves the archive untouched
        raise JobNotFoundError(missing[0])
    with nullcontext() if locked else archive.lock(timeout=lock_timeout):
        plans = _plan(archive, groups, progress, desc)
        if provider is not None:
            _route(provider, plans)
        runner = _Runner(archive, provider, campaign, workers, progress, batch_size,
                         undo_label, desc)
        runner.run(plans)
    if provider is None:
        _warn_running(plans)
    frame = _frame(plans, RESULT_COLUMNS)
    outcomes = frame["outcome"].value_counts()
    frame.attrs["summary"] = {
        "jobs": len(frame),
        "updated": int(outcomes.get("updated", 0)),
        "unchanged": int(outcomes.get("unchanged", 0)),
        "refused": int(outcomes.get("refused", 0)),
        "sent": runner.sent,
        "verified": runner.verified,
        "source": "remote" if provider is not None else "local",
    }
    return frame


def undo(archive: Archive, job_ids: Any = None, provider: Any = None, dry_run: bool = False,
         **options: Any) -> pd.DataFrame:
    """Revert the archive's last retag run (of those that changed something).

    Each run records, per job it changed, the tags before and after (in the index's journal,
    with the tags, atomically). ``undo`` removes the tags that run added and adds back those it
    removed, as ``retag`` operations (one per distinct inverse, all in one run: resumable
    and, with ``provider``, pushed to the server first). A tag a
    job already had before that run is kept (``removal_tags=[t]`` after a mistaken
    ``additional_tags=[t]`` would drop it), and a job whose tags changed again since is left
    alone (``attrs["summary"]["changed_since"]``; ``["undone_source"]`` is "remote" when
    that run changed the server too: undo it with ``provider`` then). Jobs an interrupted
    run sent without archiving the answer are reverted on the server from the tags it holds
    (read first; only with ``provider``). ``job_ids``: only
    these jobs of that run (None: all). The undo is a run too: undoing again redoes. An
    interrupted undo resumes when run again. Other options as ``retag``, whose columns the
    frame has.
    """
    progress = options.pop("progress", None)
    if progress is None:
        progress = sys.stderr.isatty()
    read_server_tags = options.pop("read_server_tags", False)
    lock_timeout = options.pop("lock_timeout", 0.0)
    # The log and the tags are read under the write lock: a retag between this read and the
    # writes would be reverted as if it were the run undone (its log lost with it).
    with nullcontext() if dry_run else archive.lock(timeout=lock_timeout):
        return _undo(archive, job_ids, provider, dry_run, progress, read_server_tags, options)


def _undo(archive: Archive, job_ids: Any, provider: Any, dry_run: bool, progress: bool,
          read_server_tags: bool, options: dict[str, Any]) -> pd.DataFrame:
    index = archive.index
    pending = index.journal_get(_UNDO_PENDING)
    log = pending or index.journal_get(UNDO_LOG)
    wanted = job_ids_of(job_ids)
    if wanted is not None:
        keep = set(wanted)
        log = {j: v for j, v in log.items() if j in keep}
    from tqdm import tqdm

    with tqdm(total=len(log), desc="undo: read tags", unit="job",
              disable=not progress, leave=False) as bar:
        current = archive.records_without_payloads(list(log), bar.update)
    groups: dict[tuple[tuple[str, ...], tuple[str, ...], bool], list[str]] = {}
    changed_since = 0
    labels = set()
    sources: set[str] = set()
    for job_id, (label, payload) in log.items():
        labels.add(label)
        old, new, *rest = json.loads(payload) if payload else ([], [])
        sources.update(rest[:1])
        held = current.get(job_id, {}).get("tags")
        if held is None or (set(new) != set(held) and _SENT not in rest[1:]):
            changed_since += job_id not in pending  # a resumed undo finds its done jobs here
            continue
        # Sent by a run stopped before it archived the answer: the server may hold the change
        # the archive lacks, which only the server's tags tell (read, then reverted there).
        unsure = set(new) != set(held)
        if unsure and provider is None:
            continue
        restore = tuple(t for t in old if t not in new)
        drop = tuple(t for t in new if t not in old)
        if restore or drop:
            groups.setdefault((restore, drop, unsure), []).append(job_id)
    # The undo's own changes are logged under one label, so its operations do not clear
    # each other's entries (and a second undo redoes).
    label = _UNDO_PREFIX + hashlib.sha256(json.dumps(sorted(labels)).encode()).hexdigest()[:16]
    if not dry_run and groups and not pending:  # the plan survives an interrupted undo
        index.journal_put(_UNDO_PENDING, [(j, lbl, p) for j, (lbl, p) in log.items()])
    # One operation per distinct inverse, after a --replace as many as distinct tag sets
    # (2,400 for 5,000 jobs), run as one: a run each took 10.7 s for 5,000 jobs (the
    # replace 0.6 s), a transaction or more each, and sent a few jobs' PUTs at a time.
    frame = None
    if groups:
        frame = _run(archive, [(group, (None, list(restore) or None, list(drop) or None),
                                unsure or read_server_tags)
                               for (restore, drop, unsure), group in groups.items()],
                     label, label, provider, dry_run, progress=progress, desc="undo",
                     locked=True, **options)
    if not dry_run and pending:  # done with these jobs (a selection leaves the others)
        index.journal_delete(_UNDO_PENDING, [j for j in log if j in pending])
    elif not dry_run and groups:
        index.journal_delete(_UNDO_PENDING, list(log))
    parts = (frame.attrs.get("summary") or {}) if frame is not None else {}
    if frame is None:
        frame = _frame([], PLAN_COLUMNS if dry_run else RESULT_COLUMNS)
    summary: dict[str, Any] = {"jobs": len(log), "changed_since": changed_since,
                               "operations": len(groups),
                               # "remote": that run changed the server's tags too
                               "undone_source": "remote" if "remote" in sources else "local"}
    if not dry_run:
        summary["source"] = "remote" if provider is not None else "local"
    summary.update((k, v) for k, v in parts.items() if isinstance(v, int) and k != "jobs")
    frame.attrs["summary"] = summary
    return frame


def _plan(archive: Archive, groups: list[tuple[list[str], tuple, bool]],
          progress: bool = False, desc: str = "retag") -> list[_Plan]:
    from tqdm import tqdm

    ids = [j for group_ids, _, _ in groups for j in group_ids]
    # Reading the records is a third of a local run (2.4 s of 100,000 jobs): show it.
    with tqdm(total=len(ids), desc=f"{desc}: read tags", unit="job", disable=not progress,
              leave=False) as bar:
        records = archive.records_without_payloads(ids, bar.update)
    missing = [j for j in ids if j not in records]
    if missing:
        raise JobNotFoundError(missing[0])
    plans = []
    for group_ids, op, read in groups:
        for job_id in group_ids:
            record = records[job_id]
            old = list(record.get("tags") or [])
            new = apply_tag_update(old, *op, IBMQJobInvalidStateError)
            plans.append(_Plan(job_id, record, old, new, op=op, read=read))
    return plans


def _warn_running(plans: list[_Plan]) -> None:
    """Say so when a local run changed jobs still running: the next sync refreshes them
    from the server, whose tags this run did not change, and so takes the change back."""
    running = [p.job_id for p in plans if p.outcome == "updated"
               and str(p.record.get("status") or "").upper() not in API_FINAL_STATUSES]
    if running:
        warnings.warn(
            f"{len(running):,} of the jobs retagged locally are still running (e.g. "
            f"{running[0]}): the next sync takes their tags from the server, where they did "
            "not change, and so undoes this change. Retag them on the server too (jobarchive "
            "retag --remote; retag(..., provider=provider)) to keep it", UserWarning,
            stacklevel=5)  # the caller of Archive.retag


def _route(provider: Any, plans: list[_Plan]) -> None:
    """Give each plan the provider of the project its job ran in (the archived ``hub_info``,
    as sync records it): one project's URL answers "not found" for another's jobs. A job of a
    project this account cannot use, or that ``provider`` cannot reach, is refused here,
    with the fix in its error, and never sent (unless nothing would be asked of the server
    for it: its tags are read only when its plan says so, and sent only when they
    change)."""
    c = provider.api_client
    own = tuple(getattr(c, k, None) for k in ("hub", "group", "project"))
    others: dict[tuple[str, str, str], Any] = {}
    for p in plans:
        owner = _owner(p.record)
        if owner is None or owner == own:
            p.provider = provider
            continue
        if owner not in others:
            switch = getattr(provider, "for_project", None)
            try:
                if switch is None:
                    raise IBMQProviderError(
                        f"the provider given ({'/'.join(map(str, own))}) cannot reach other "
                        "projects: retag these jobs with a provider of that project")
                others[owner] = switch(*owner)
            except IBMQProviderError as err:
                others[owner] = err
        target = others[owner]
        if isinstance(target, IBMQProviderError) and (p.changed or p.read):
            p.outcome, p.source = "refused", "remote"
            p.error = f"not sent: the job ran in {'/'.join(owner)}: {target}"
        elif not isinstance(target, IBMQProviderError):
            p.provider = target


def _by_project(provider: Any, plans: list[_Plan]) -> list[tuple[Any, list[_Plan]]]:
    """Plans grouped by the provider of their job's project (refused ones left out)."""
    groups: dict[int, tuple[Any, list[_Plan]]] = {}
    for p in plans:
        if p.outcome == "refused":
            continue
        target = p.provider if p.provider is not None else provider
        groups.setdefault(id(target), (target, []))[1].append(p)
    return list(groups.values())


def _server_tags_of(doc: Any) -> list[str] | None:
    tags = doc.get("tags") if isinstance(doc, dict) else None
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return list(tags)
    return None


def _read_server_tags(provider: Any, batch: list[_Plan],
                      pool: ThreadPoolExecutor | None = None,
                      breaker: _Breaker | None = None,
                      cancel: threading.Event | None = None) -> None:
    """Plan each job from the tags the server holds now, as ``update_tags`` does on a
    job just retrieved: tags changed on the server since the last sync are kept, not
    overwritten by the archive's older list.

    Full documents are listed by id (``Jobs/v/1``, 100 a request: the ``Jobs/status/v/1``
    items of the real server carry no tags); a job whose listed document has no tags is
    read alone (``GET J/v/1``, on ``pool``), unless it is the full document (which the
    real server sends without ``tags`` for a job given none). A job that cannot be read is
    refused (nothing sent); one the server does not return (its PUT then tells what is
    wrong), or answers with a lean document (no ``tags``, no ``timePerStep``), keeps the
    archive's plan.
    """
    lister = getattr(provider, "iter_job_docs", None)
    client = getattr(provider, "api_client", None)
    if lister is None:
        return

    def use(p: _Plan, tags: list[str]) -> None:
        p.server = tags
        p.record = {**p.record, "tags": list(tags)}
        p.new = apply_tag_update(tags, *p.op, IBMQJobInvalidStateError)

    def refuse(p: _Plan, err: BaseException) -> None:
        p.outcome, p.source = "refused", "remote"
        p.error = f"could not read its tags on the server: {type(err).__name__}: {err}"

    def read_alone(p: _Plan) -> tuple[_Plan, list[str] | None, BaseException | None]:
        try:
            with cancellable(client, cancel):
                doc = client.job_get(p.job_id)
        except Exception as err:
            return p, None, err
        # A full document without tags is a job without tags; a lean one (no timePerStep:
        # the older server's, a trimmed answer) says nothing of them: None keeps the
        # archive's plan, where planning from no tags would wipe the job's tags.
        tags = _server_tags_of(doc)
        return p, (tags if tags is not None or not is_full_doc(doc) else []), None

    for chunk in _chunks(batch, _IDS_PER_LIST):
        if breaker is not None and breaker.down():
            breaker.check()
        wanted = {p.job_id: p for p in chunk}
        lacking: list[_Plan] = []
        try:
            for doc in lister(where={"id": {"inq": list(wanted)}}, descending=False,
                              page_size=len(wanted), full=True):
                p = wanted.pop(doc.get("id"), None) if isinstance(doc, dict) else None
                if p is not None:
                    tags = _server_tags_of(doc)
                    if tags is None and is_full_doc(doc) and doc.get("tags") is None:
                        tags = []  # a full document leaves `tags` out of a job given none
                    if tags is not None:
                        use(p, tags)
                    else:
                        lacking.append(p)
                if not wanted:
                    break  # all found: the empty page that ends a listing is not asked for
        except Exception as err:  # the server failed: these jobs wait for a re-run
            if breaker is not None:
                breaker.note(err)
            for p in chunk:
                if p.server is None and p not in lacking:
                    refuse(p, err)
        if lacking and client is not None:
            answers = pool.map(read_alone, lacking) if pool is not None else map(read_alone,
                                                                                 lacking)
            for p, tags, err in answers:
                if breaker is not None:
                    breaker.note(err)
                if err is not None:
                    refuse(p, err)
                elif tags is not None:
                    use(p, tags)


class _UndoLog:
    """The undo log as this run last wrote it: read at its first write (``label``: the one
    all its entries carry, once checked)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str | None]] | None = None
        self.label: str | None = None


class _Runner:
    def __init__(self, archive: Archive, provider: Any, campaign: str, workers: int,
                 progress: bool, batch_size: int, undo_label: str, desc: str = "retag"):
        self.archive = archive
        self.undo_label = undo_label
        self._undo = _UndoLog()
        self._set_aside: list[tuple[str, str]] = []  # (campaign, where it was set aside)
        self.provider = provider
        self.client = provider.api_client if provider is not None else None
        self.campaign = campaign
        self.desc = desc
        self.workers = max(1, int(workers))
        self.progress = progress
        self.batch_size = batch_size
        self.sent = 0       # PUTs issued
        self.verified = 0   # jobs whose unknown outcome was checked with a GET
        self._count_lock = threading.Lock()
        self.breaker = _Breaker(self.workers)
        self._cancel = threading.Event()  # set when the run is interrupted (Ctrl-C)

    def run(self, plans: list[_Plan]) -> None:
        from tqdm import tqdm

        journal = self.archive.index.journal_get(self.campaign) if self.client else {}
        bar = tqdm(total=len(plans), desc=self.desc, unit="job", disable=not self.progress,
                   leave=False)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="jobarchive-retag") \
            if self.client else None
        try:
            # Without a server, batches only cost commits (each an fsync, and a rewrite of
            # every index page its rows touch): 60,000 jobs took 13.8 s in batches of 500.
            size = self.batch_size if self.client is not None else max(self.batch_size, LOCAL_BATCH)
            for batch in _chunks(plans, size):
                reading = [p for p in batch if p.read] if self.client is not None else []
                if reading:
                    for sub, group in _by_project(self.provider, reading):
                        _read_server_tags(sub, group, pool, self.breaker, self._cancel)
                    self.breaker.check()
                stale = [p.job_id for p in batch if not p.changed and p.job_id in journal]
                for p in batch:
                    if not p.changed and p.outcome != "refused":
                        p.outcome = "unchanged"
                changed = [p for p in batch if p.changed and p.outcome != "refused"]
                ticked = 0
                if self.client is None:
                    self._record(changed, "local")
                else:
                    ticked = self._push(changed, journal, pool, bar.update)
                if stale:  # left by a run killed after its local write
                    self.archive.index.journal_delete(self.campaign, stale)
                bar.update(len(batch) - ticked)
        except BaseException as err:
            # Ctrl-C (or any escape): the requests under way stop at their next attempt or
            # backoff wait, so the pool's shutdown does not sit out their retry ladders.
            self._cancel.set()
            if isinstance(err, RequestsApiError):  # stopped early, every answer in
                self._settle_undo()
            raise
        else:
            self._settle_undo()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            bar.close()

    def _settle_undo(self) -> None:
        """At the end of a run that logged changes: forget the log it set aside, or put it
        back when none of its own is left (the server refused every change outright)."""
        if self._undo.label != self.undo_label:
            return
        index = self.archive.index
        with index.transaction():
            if self._undo.entries:
                index.journal_clear(_LOG_ASIDE)
                index.journal_clear(_PENDING_ASIDE)
            else:
                for source, aside in self._set_aside:
                    _move(index, aside, source)

    def _record(self, plans: list[_Plan], source: str) -> None:
        """Write the new tags onto the records as they are stored now, under the index's
        write lock: a newer snapshot another process added since the plan keeps its status
        and name, and a local operation applies to the tags held now."""
        if not plans:
            return
        with self.archive.index.transaction():
            current = self.archive.records_without_payloads([p.job_id for p in plans])
            records = []
            logged = []
            for p in plans:
                record = current[p.job_id]
                held = list(record.get("tags") or [])
                if source == "local":
                    p.old = held
                    p.new = apply_tag_update(held, *p.op, IBMQJobInvalidStateError)
                p.source = source
                if set(held) == set(p.new):
                    # The archive had them already; the server may not have (then a PUT
                    # changed it: that job was updated all the same).
                    p.outcome = "updated" if p.pushed else "unchanged"
                    continue
                record["tags"] = list(p.new)
                # Stored records are normalized already; as IBMQJob they skip re-normalization.
                records.append(IBMQJob._from_record(record, None, None))
                logged.append((p.job_id, _before(p, held), list(p.new)))
                p.outcome = "updated"
            # Records without qobj/result: the stored payloads and blob stay as they are.
            self.archive.add_many(records, source=source)
            self._log_for_undo(logged, source)

    def _log_for_undo(self, changes: list[tuple[str, list[str], list[str]]],
                      source: str, sent: bool = False) -> None:
        """Log (before, after) tags of the jobs this run changed, in the tags' transaction
        (``sent``: about to be sent to the server, not yet archived). The first change of a
        run with another label starts a new log; a resumed run (the same label) adds to its
        log and keeps each job's first "before" (unless its tags changed elsewhere since)."""
        if not changes:
            return
        index = self.archive.index
        if self._undo.label != self.undo_label:
            if self._undo.entries is None:
                self._undo.entries = index.journal_get(UNDO_LOG)
            # A new run after an interrupted undo: `undo` now means this run.
            fresh = not self.undo_label.startswith(_UNDO_PREFIX)
            if any(label != self.undo_label for label, _ in self._undo.entries.values()):
                _move(index, UNDO_LOG, _LOG_ASIDE, self._undo.entries)
                self._undo.entries = {}
                self._set_aside.append((UNDO_LOG, _LOG_ASIDE))
                if fresh:
                    _move(index, _UNDO_PENDING, _PENDING_ASIDE)
                    self._set_aside.append((_UNDO_PENDING, _PENDING_ASIDE))
            elif fresh:
                index.journal_clear(_UNDO_PENDING)
            self._undo.label = self.undo_label
        entries = []
        for job_id, before, after in changes:
            logged = self._undo.entries.get(job_id)
            if logged is not None and logged[1]:
                first, last = json.loads(logged[1])[:2]
                # A resumed run goes on from what its first part made of the job; a job
                # whose tags changed elsewhere since (a colleague, a sync) starts from those.
                if set(last) == set(before):
                    before = first
            # source: was the server changed; SENT: maybe, the archive does not say
            payload = json.dumps([before, after, source, *[_SENT] * sent])
            self._undo.entries[job_id] = (self.undo_label, payload)
            entries.append((job_id, self.undo_label, payload))
        index.journal_put(UNDO_LOG, entries)

    def _push(self, plans: list[_Plan], journal: dict, pool: ThreadPoolExecutor,
              tick: Callable[[int], Any]) -> int:
        """Send, journal and record one batch; returns the jobs ``tick`` counted (one per
        server answer, as it arrives: a batch of slow PUTs shows progress)."""
        if not plans:
            return 0
        ticked = 0
        confirmed: list[_Plan] = []
        to_send: list[tuple[_Plan, bool]] = []
        for p in plans:
            state, payload = journal.get(p.job_id, (None, None))
            tags = _tags_of(payload)
            if p.server is not None and set(p.server) == set(p.new):
                p.new = list(p.server)  # the server has them already: only the archive lags
                confirmed.append(p)
            else:
                to_send.append((p, state in ("sending", "confirmed") and tags is not None
                                and set(tags) == set(p.new)))
        if to_send:
            with self.archive.index.transaction():
                self.archive.index.journal_put(
                    self.campaign, [(p.job_id, "sending", json.dumps(p.new)) for p, _ in to_send])
                # Logged before it is sent: after a kill or Ctrl-C, `undo` means this run and
                # reverts what may have reached the server (not the run before it).
                self._log_for_undo([(p.job_id, _before(p, p.old), p.new) for p, _ in to_send],
                                   "remote", sent=True)
            answers = []
            for answer in pool.map(self._send, to_send):
                answers.append(answer)
                tick(1)
            ticked = len(answers)
            newly = []
            unapplied = []
            for (p, verify), (tags, error) in zip(to_send, answers, strict=True):
                if error is _NOT_SENT:
                    p.outcome, p.source = "refused", "remote"
                    p.error = "not sent: the server was failing (run the same retag again)"
                    if not verify:  # journaled by this run: nothing to check on a re-run
                        unapplied.append(p.job_id)
                elif isinstance(error, _Refused):  # sent by this run, and refused outright
                    p.outcome, p.source, p.error = "refused", "remote", str(error)
                    unapplied.append(p.job_id)
                elif error is not None:
                    # Outcome unknown (a lost answer may have been applied): the "sending"
                    # entry stays, so a re-run checks the server before sending again.
                    p.outcome, p.source, p.error = "refused", "remote", error
                else:
                    p.new = tags
                    p.pushed = True
                    newly.append(p)
            if unapplied:
                with self.archive.index.transaction():
                    self.archive.index.journal_delete(self.campaign, unapplied)
                    self.archive.index.journal_delete(UNDO_LOG, unapplied)
                for job_id in unapplied:
                    self._undo.entries.pop(job_id, None)
            confirmed.extend(newly)
        self._record(confirmed, "remote")
        if confirmed:
            self.archive.index.journal_delete(self.campaign, [p.job_id for p in confirmed])
        for p in confirmed:
            journal.pop(p.job_id, None)
        self.breaker.check()
        return ticked

    def _send(self, item: tuple[_Plan, bool]) -> tuple[list[str] | None, str | None]:
        """Runs on a worker thread: network only. (server tags, None) or (None, reason)."""
        plan, verify = item
        if self.breaker.down():
            return None, _NOT_SENT
        client = plan.provider.api_client if plan.provider is not None else self.client
        try:
            with cancellable(client, self._cancel):
                if verify:
                    with self._count_lock:
                        self.verified += 1
                    doc = client.job_get(plan.job_id)
                    tags = doc.get("tags") if isinstance(doc, dict) else None
                    if tags is None and is_full_doc(doc):
                        tags = []  # a job without tags: its full document leaves them out
                    if isinstance(tags, list) and set(tags) == set(plan.new):
                        self.breaker.note(None)
                        return list(tags), None
                job = IBMQJob._from_record(dict(plan.record), None, client)
                with self._count_lock:
                    self.sent += 1
                tags = job.update_tags(*plan.op)
        except Exception as err:  # one job's failure must not stop the others
            self.breaker.note(err)
            reason = f"{type(err).__name__}: {err}"
            api = api_error(err)
            if not verify and api is not None and api.status_code in _REFUSED_OUTRIGHT:
                return None, _Refused(reason)
            return None, reason
        self.breaker.note(None)
        return tags, None


_NOT_SENT = "not sent"  # _send's answer for a job not tried: the server is down


class _Refused(str):
    """_send's reason for a PUT of this run the server refused outright (nothing applied)."""


def _move(index: Any, source: str, target: str,
          entries: dict[str, tuple[str, str | None]] | None = None) -> None:
    """Make journal campaign ``target`` hold what ``source`` held (``entries``, when read
    already), and empty ``source``."""
    if entries is None:
        entries = index.journal_get(source)
    index.journal_clear(target)
    index.journal_put(target, [(j, state, payload) for j, (state, payload) in entries.items()])
    index.journal_clear(source)


class _Breaker:
    """Transport failures in a row (no answer, 5xx or 429 after the client's retries, 401),
    counted as sync counts them: a dead server costs a few requests' retry ladders, not
    every remaining job's (hours, for tens of thousands of jobs)."""

    def __init__(self, workers: int):
        self._lock = threading.Lock()
        self._run = FailureRun(max(3, workers))

    def note(self, err: BaseException | None) -> None:
        """Count an outcome toward (or reset) the run of transport failures."""
        with self._lock:
            self._run.note(err)

    def down(self) -> bool:
        with self._lock:
            return self._run.down

    def check(self) -> None:
        """Raise ``RequestsApiError`` once the server is taken to be down."""
        if not self.down():
            return
        last, in_a_row = self._run.last, self._run.in_a_row
        what = ("refused the access token" if last is not None and last.status_code == 401
                else "failed (unreachable, answering 5xx or rate limiting)")
        raise RequestsApiError(
            f"Retag stopped early: the server {what} {in_a_row} times in a row; the last "
            f"error: {last}. What the server confirmed is archived; run the same retag again "
            "to resume.",
            last.status_code if last is not None else -1,
            last.error_code if last is not None else None)


def _before(plan: _Plan, held: list[str]) -> list[str]:
    """A job's tags before the run, for undo: the server's when they were read (a tag a
    colleague put there since the last sync is not the run's to take away), else ``held``."""
    return list(plan.server) if plan.server is not None else held


def _tags_of(payload: str | None) -> list[str] | None:
    if payload is None:
        return None
    try:
        tags = json.loads(payload)
    except ValueError:
        return None
    return tags if isinstance(tags, list) and all(isinstance(t, str) for t in tags) else None
