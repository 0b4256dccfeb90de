"""IBMQJob and QueueInfo: the job interface of qiskit-ibmq-provider 0.11.1, made archivable.

The job's state is one record dict in the to_dict() format (see ``record``). Reads answer
from it; a job with an ``api_client`` talks to the server for the calls that need it and
folds the answers back into the record, so ``to_dict()`` is always what the server said
last. A job without an api_client is *offline*: reads work, network-only calls raise
``IBMQJobError`` saying so.

The api_client is duck-typed (``jobarchive.api.ApiClient`` is the real one): ``job_get,
job_status, job_cancel, job_update_attribute, job_properties, job_result, job_qobj``, each
taking raw camelCase dicts in and out and raising ``ApiError``.
"""

from __future__ import annotations

import copy
import enum
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, TextIO

import numpy as np
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus
from qiskit.result import Result

from .exceptions import (
    ApiError,
    IBMQJobApiError,
    IBMQJobError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    IBMQJobTimeoutError,
    JobValidationError,
)
from .record import (
    KNOWN_KEYS,
    _check_json,
    client_version_of,
    format_date,
    from_server_doc,
    map_server_keys,
    normalize,
    parse_date,
)
from .status import (
    API_ERRORS_WITHOUT_RESULT,
    JOB_FINAL_STATES,
    JOBSET_TAG_PREFIX,
    ApiJobKind,
    to_job_status,
)

DEFAULT_POLL_SECONDS = 5.0
# How long the status poll due when a wait's timeout is up may take to be answered.
FINAL_POLL_SECONDS = 5.0
_QUEUE_INFO_KEYS = (
    "position", "status", "estimated_start_time", "estimated_complete_time",
    "hub_priority", "group_priority", "project_priority", "job_id",
)


def _local(dt: datetime) -> datetime:
    return dt.astimezone()


class QueueInfo:
    """Queue information of a job that the server reports as QUEUED."""

    def __init__(
        self,
        position: int | None = None,
        status: str | None = None,
        estimated_start_time: str | datetime | None = None,
        estimated_complete_time: str | datetime | None = None,
        hub_priority: float | None = None,
        group_priority: float | None = None,
        project_priority: float | None = None,
        job_id: str | None = None,
        **kwargs: Any,
    ):
        self.position = position
        self._status = status
        self._estimated_start_time = self._utc(estimated_start_time)
        self._estimated_complete_time = self._utc(estimated_complete_time)
        self.hub_priority = hub_priority
        self.group_priority = group_priority
        self.project_priority = project_priority
        self.job_id = job_id
        self._extra = dict(kwargs)

    @staticmethod
    def _utc(value: str | datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_date(value, None, "info_queue")
        except JobValidationError:
            return None

    @property
    def estimated_start_time(self) -> datetime | None:
        """Estimated start time, local time zone."""
        return _local(self._estimated_start_time) if self._estimated_start_time else None

    @property
    def estimated_complete_time(self) -> datetime | None:
        """Estimated completion time, local time zone."""
        return _local(self._estimated_complete_time) if self._estimated_complete_time else None

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("_extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"Attribute {name} is not defined.")

    def _job_status(self, text: bool) -> str:
        """The queue status as upstream shows it: its JobStatus (``PENDING_IN_QUEUE`` is
        QUEUED), by name or by text; a status the mapping does not know, as sent."""
        if self._status is None:
            return "unknown"
        try:
            status = to_job_status(self._status)
        except ValueError:
            return str(self._status)
        return status.value if text else status.name

    def format(self) -> str:
        """A multi-line human report: times relative to now, unknown values 'unknown'."""

        def show(v: Any) -> str:
            return "unknown" if v is None else str(v)

        def when(dt: datetime | None) -> str:
            return "unknown" if dt is None else _relative(dt)

        return "\n".join([
            f"Job {show(self.job_id)} queue information:",
            f"    queue position: {show(self.position)}",
            f"    status: {self._job_status(text=True)}",
            f"    estimated start time: {when(self._estimated_start_time)}",
            f"    estimated completion time: {when(self._estimated_complete_time)}",
            f"    hub priority: {show(self.hub_priority)}",
            f"    group priority: {show(self.group_priority)}",
            f"    project priority: {show(self.project_priority)}",
        ])

    def __repr__(self) -> str:
        start, complete = self.estimated_start_time, self.estimated_complete_time  # local
        return (
            f"<QueueInfo(job_id={self.job_id!r}, _status='{self._job_status(text=False)}', "
            f"estimated_start_time='{start.isoformat() if start else None}', "
            f"estimated_complete_time='{complete.isoformat() if complete else None}', "
            f"position={self.position}, hub_priority={self.hub_priority}, "
            f"group_priority={self.group_priority}, project_priority={self.project_priority})>"
        )


def _relative(dt: datetime) -> str:
    """``dt`` as a distance from now in upstream's units ('3 days 5 hrs', '2 hrs 30 min',
    '4 min 10 sec'); a time already past (an archived job's estimate) ends in 'ago'."""
    seconds = (dt - datetime.now(UTC)).total_seconds()
    past, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} days {hours} hrs"
    elif hours:
        text = f"{hours} hrs {minutes} min"
    elif minutes:
        text = f"{minutes} min {secs} sec"
    elif secs:
        text = f"{secs} sec"
    else:
        text = f"{math.ceil(seconds * 1000)} ms"
    return f"{text} ago" if past else text


class ArchivedBackend:
    """Stand-in backend of an offline job: it knows its name and nothing else."""

    def __init__(self, name: str | None):
        self._name = name

    def name(self) -> str | None:
        """The backend's name as recorded."""
        return self._name

    def __getattr__(self, name: str) -> Any:
        # Code written for upstream calls job.backend().properties(), configuration(), ...:
        # say what this stand-in is and where the real backend is, not just "no attribute".
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self!r} is the backend of an offline job: it knows only its name, so it has "
            f"no {name}. The live backend is provider.get_backend('{self._name}').")

    def __repr__(self) -> str:
        return f"<ArchivedBackend('{self._name}')>"


class IBMQJob:
    """An IBM Quantum job (qiskit-ibmq-provider 0.11.1 semantics) with a working to_dict()."""

    def __init__(
        self,
        backend: Any,
        api_client: Any,
        job_id: str,
        creation_date: str,
        status: str,
        kind: str | None = None,
        name: str | None = None,
        time_per_step: dict[str, str] | None = None,
        result: dict | None = None,
        qobj: dict | None = None,
        error: dict | None = None,
        tags: list[str] | None = None,
        run_mode: str | None = None,
        share_level: str | None = None,
        client_info: dict[str, str] | None = None,
        experiment_id: str | None = None,
        **kwargs: Any,
    ):
        record = dict(
            job_id=job_id, creation_date=creation_date, status=status, kind=kind, name=name,
            time_per_step=time_per_step, result=_plain(result), qobj=_plain(qobj), error=error,
            tags=tags, run_mode=run_mode, share_level=share_level, client_info=client_info,
            experiment_id=experiment_id, **kwargs,
        )
        if record.get("backend_name") is None and backend is not None:
            record["backend_name"] = _backend_name(backend)
        # else normalize() reads it from upstream's _backend_info, as from_server() does
        self._init(normalize(record, detach=True), backend, api_client)  # not the caller's

    def _init(self, record: dict[str, Any], backend: Any, api_client: Any) -> None:
        self._record = record
        self._backend = backend
        self._api_client = api_client
        self._result_obj: Result | None = None
        self._unacknowledged = False  # a result downloaded with its acknowledgement held back
        self._cancelled = False
        self._job_error_msg: str | None = None
        self._refreshed = False
        # Fields a job-list item left out (see from_server): read in full when asked for.
        self._unlisted: frozenset[str] = frozenset()

    # --- construction --------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], backend: Any = None, api_client: Any = None) -> IBMQJob:
        """Rebuild a job from ``to_dict()`` output (or any record of that format).

        Deviation from 0.11.1 on purpose: there ``to_dict()`` returned ``{}`` and this needed
        live objects inside ``data``. Raises ``JobValidationError`` (a ``ValueError``).
        """
        # A copy: a later change in ``data`` must not reach the record unvalidated
        # (Archive.add(job) stores it as it is).
        return cls._from_record(normalize(data, detach=True), backend, api_client)

    @classmethod
    def from_server(cls, doc: dict[str, Any], backend: Any = None, api_client: Any = None,
                    *, listed: bool = False) -> IBMQJob:
        """Build a job from a raw camelCase server document, as the API client receives it.

        ``listed=True``: ``doc`` is a job-list item (reference §6), which may lack fields
        such as its name and tags; reading one it lacks, and ``update_tags`` without its
        tags, then read the live job in full first, once.
        """
        job = cls.from_dict(from_server_doc(doc), backend, api_client)
        if listed:
            job._unlisted = frozenset(f for f in ("name", "tags") if f not in doc)
        return job

    @classmethod
    def _from_record(cls, record: dict[str, Any], backend: Any, api_client: Any) -> IBMQJob:
        job = cls.__new__(cls)
        if record.get("backend_name") is None and backend is not None:
            record["backend_name"] = _backend_name(backend)
        job._init(record, backend, api_client)
        return job

    def to_dict(self) -> dict[str, Any]:
        """The full job in JSON-only types: the record format of ``schemas/job.schema.json``
        (of a job built from a list item, what the list item holds until ``refresh()``).

        Deviation from 0.11.1 on purpose: there it returned ``{}``.
        """
        return copy.deepcopy(self._record)

    def _read_in_full(self, field: str) -> None:
        """A live job built from a job-list item without ``field`` (``from_server(listed=
        True)``) reads its full document once: the real server's list items carry no name
        or tags (realdata ibmqclient_jl_records/jobs.json), and reads must not answer None
        or [] for what the job has."""
        if field in self._unlisted and self._api_client is not None and not self._refreshed:
            self.refresh()

    # --- plain reads -----------------------------------------------------------------

    def job_id(self) -> str:
        """The job's id."""
        return self._record["job_id"]

    def backend(self) -> Any:
        """The backend the job ran on (an ``ArchivedBackend`` for an offline job)."""
        if self._backend is None:
            self._backend = ArchivedBackend(self._record.get("backend_name"))
        return self._backend

    def name(self) -> str | None:
        """The job's name."""
        self._read_in_full("name")
        return self._record.get("name")

    def tags(self) -> list[str]:
        """A copy of the job's tags."""
        self._read_in_full("tags")
        return list(self._record["tags"])

    def creation_date(self) -> datetime:
        """When the job was created, in the local time zone."""
        return _local(parse_date(self._record["creation_date"], self.job_id(), "creation_date"))

    @property
    def client_version(self) -> dict[str, str]:
        """The client that submitted the job, ``{package: version}``; refreshes once if empty."""
        if not self._record.get("client_info") and self._api_client and not self._refreshed:
            self.refresh()
        return client_version_of(self._record.get("client_info"))

    @property
    def experiment_id(self) -> str | None:
        """The experiment id (server ``experimentTag``), if any; refreshes once if empty, as
        0.20 does (list views leave the field out)."""
        if self._record.get("experiment_id") is None and self._api_client \
                and not self._refreshed:
            self.refresh()
        return self._record.get("experiment_id")

    def __getattr__(self, name: str) -> Any:
        # Unknown server fields are served as `<name>_`, as upstream does (e.g. `job.hub_info_`).
        record = self.__dict__.get("_record")
        if record is not None and name.endswith("_"):
            key = name[:-1]
            if key in record and key not in KNOWN_KEYS:
                return copy.deepcopy(record[key])  # a copy, like to_dict(): the record stays sealed
            if key == "experiment_tag" and record.get("experiment_id") is not None:
                return record["experiment_id"]  # 0.11.1 kept the server's experimentTag so
        raise AttributeError(f"Attribute {name} is not defined.")

    def __repr__(self) -> str:
        return f"<IBMQJob('{self.job_id()}', status='{self._record['status']}')>"

    # --- status ------------------------------------------------------------------------

    def _require_client(self, operation: str) -> Any:
        if self._api_client is None:
            raise IBMQJobError(
                f"Job {self.job_id()} is offline (rebuilt from stored data, no API client), "
                f"so it cannot {operation}. Retrieve it with provider.retrieve_job('{self.job_id()}') "
                "or pass api_client= to IBMQJob.from_dict()."
            )
        return self._api_client

    def _cached_status(self) -> JobStatus:
        return to_job_status(self._record["status"])

    def status(self) -> JobStatus:
        """The job's status; asks the server unless the cached status is final or offline."""
        cached = self._cached_status()
        if cached in JOB_FINAL_STATES or self._api_client is None:
            return cached
        try:
            answer = self._api_client.job_status(self.job_id())
        except ApiError as err:
            raise IBMQJobApiError(str(err)) from err
        self._apply_answer(answer)
        return self._cached_status()

    def _apply_answer(self, answer: dict[str, Any]) -> None:
        """Apply a status answer, a final status only together with the job's final document
        (``refresh()``). A job cached as final is never asked about again (``status()``
        answers from the cache, sync skips it, ``to_dict()`` is what gets archived), so when
        that refresh fails the job stays as it was and the next call asks again."""
        before = {key: self._record.get(key) for key in ("status", "info_queue")}
        self._apply_status(answer)
        if self._cached_status() in JOB_FINAL_STATES:
            try:
                self.refresh()
            except BaseException:
                self._record.update(before)
                raise

    def _apply_status(self, answer: dict[str, Any]) -> None:
        mapped = map_server_keys(answer, {"infoQueue": "info_queue"})
        api_status = mapped.get("status")
        try:
            to_job_status(api_status)
        except ValueError as err:
            raise IBMQJobApiError(f"Unexpected return value received from the server: {err}") from None
        info = mapped.get("info_queue")
        info = map_server_keys(info, {}) if isinstance(info, dict) else None
        try:  # the record must stay exact JSON (see _check_exact_json)
            _check_json(info, self.job_id(), "info_queue")
        except JobValidationError as err:
            raise IBMQJobApiError(f"Unexpected return value received from the server: {err}") from None
        self._record["status"] = api_status.upper()
        self._record["info_queue"] = info

    def done(self) -> bool:
        """Whether the job finished successfully."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        """Whether the job is running."""
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        """Whether the job was cancelled."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Whether the job is DONE, CANCELLED or ERROR."""
        return self.status() in JOB_FINAL_STATES

    def refresh(self) -> None:
        """Re-read every field from the server (GET job info)."""
        client = self._require_client("refresh")
        try:
            doc = client.job_get(self.job_id())
        except ApiError as err:
            raise IBMQJobApiError(str(err)) from err
        self.refresh_from(doc)

    def refresh_from(self, doc: dict[str, Any]) -> None:
        """``refresh()`` with a full server document already in hand (e.g. from a bulk list)."""
        try:
            fresh = from_server_doc(doc)
            for required in ("job_id", "creation_date", "status"):
                if required not in fresh:
                    raise JobValidationError(f"missing required field {required!r}", self.job_id())
            # The job keeps the id it was asked about, as upstream's refresh does: the 2024
            # server answered for a job under another id (realdata submit_2024.json), and a
            # job re-keyed by its refresh would be archived twice, the first never final.
            fresh.pop("job_id")
            merged = dict(self._record)
            for key in ("name", "time_per_step", "error", "run_mode", "info_queue"):
                merged[key] = fresh.pop(key, None)
            merged["tags"] = fresh.pop("tags", None) or []
            # As sent: a level the server leaves out stays None, as from_server() keeps it
            # (share_level() and the index answer "none" for it).
            merged["share_level"] = fresh.pop("share_level", None)
            merged["client_info"] = fresh.pop("client_info", None)
            # An external-storage document never carries the result; keep the one we have.
            if fresh.get("result") is None:
                fresh.pop("result", None)
            if fresh.get("qobj") is None:
                fresh.pop("qobj", None)
            merged.update(fresh)
            self._record = normalize(merged)
        except (JobValidationError, TypeError) as err:
            raise IBMQJobApiError(f"Unexpected return value received from the server: {err}") from err
        self._refreshed = True

    def time_per_step(self) -> dict[str, datetime] | None:
        """Server status -> when it was reached (local time); refreshes a live non-final job."""
        if self._api_client and (not self._record.get("time_per_step")
                                 or self._cached_status() not in JOB_FINAL_STATES):
            self.refresh()
        steps = self._record.get("time_per_step")
        if not steps:
            return None
        return {k: _local(parse_date(v, self.job_id(), "time_per_step")) for k, v in steps.items()}

    def scheduling_mode(self) -> str | None:
        """``fairshare``, ``dedicated`` or None."""
        if self._record.get("run_mode") is None and self._api_client:
            self.refresh()
        mode = self._record.get("run_mode")
        if mode is None and self._cached_status() in (JobStatus.RUNNING, JobStatus.DONE):
            return "fairshare"
        return mode

    def share_level(self) -> str:
        """One of global, hub, group, project, none."""
        if not self._record.get("share_level") and self._api_client and not self._refreshed:
            self.refresh()  # once: a server that sends no level means "none"
        return self._record.get("share_level") or "none"

    def queue_position(self, refresh: bool = False) -> int | None:
        """The position in the queue while QUEUED, else None."""
        if refresh:
            self.status()
        info = self._queue_info()
        return info.position if info else None

    def queue_info(self) -> QueueInfo | None:
        """Queue information while the job is QUEUED (always asks for the status first)."""
        self.status()
        info = self._queue_info()
        if info is None:
            return None
        if all(v is None for v in (info.position, info.hub_priority, info.group_priority,
                                   info.project_priority)):
            return None
        return info

    def _queue_info(self) -> QueueInfo | None:
        raw = self._record.get("info_queue")
        if self._record["status"] != "QUEUED" or not isinstance(raw, dict):
            return None
        return QueueInfo(job_id=self.job_id(), **{k: v for k, v in raw.items() if k != "job_id"})

    # --- waiting -------------------------------------------------------------------------

    def _wait_for_completion(
        self,
        timeout: float | None,
        wait: float,
        required: tuple[JobStatus, ...] = JOB_FINAL_STATES,
        callback: Callable[[JobStatus], None] | None = None,
    ) -> bool:
        """Poll every ``wait`` seconds until the job is final; whether it ended in ``required``.

        ``timeout`` bounds the whole wait: the client cuts (or stops retrying) a slow or
        failing status request at the deadline instead of after its own timeout and retries,
        and that is an ``IBMQJobTimeoutError`` too. The poll due when the time is up is still
        sent, with up to ``FINAL_POLL_SECONDS`` to be answered: a job that ended meanwhile is
        reported, not timed out (upstream's last poll came up to an interval late).
        """
        if self._cached_status() in JOB_FINAL_STATES:
            return self._cached_status() in required
        client = self._require_client("wait for a final state")
        bound = getattr(client, "deadline", None) if timeout is not None else None
        start = time.monotonic()
        last = False  # this poll is the one due when the time is up
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - start)
            last = last or (left is not None and left <= 0)  # timeout=0: one poll
            try:
                with bound(FINAL_POLL_SECONDS if last else left) if bound else nullcontext():
                    try:
                        answer = client.job_status(self.job_id())
                    except ApiError as err:
                        raise IBMQJobApiError(
                            f"Error checking job status due to a network error: {err}"
                        ) from err
                    self._apply_answer(answer)  # a final status refreshes: bounded too
            except IBMQJobApiError as err:
                if timeout is not None and isinstance(err.__cause__, TimeoutError):
                    raise IBMQJobTimeoutError(
                        f"Timeout while waiting for job {self.job_id()}.") from err
                raise
            status = self._cached_status()
            if status in JOB_FINAL_STATES:
                break
            if callback is not None:
                callback(status)
            if timeout is not None and (last or time.monotonic() - start >= timeout):
                raise IBMQJobTimeoutError(f"Timeout while waiting for job {self.job_id()}.")
            delay = wait
            if timeout is not None:
                left = max(0.0, timeout - (time.monotonic() - start))
                delay, last = min(wait, left), wait >= left
            time.sleep(delay)
        return self._cached_status() in required

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float | None = None,
        callback: Callable[..., None] | None = None,
        poll_interval: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        """Block until the job is final.

        ``callback(job_id, job_status, job, queue_info=...)`` is called when the status or
        queue information changes (``wait=None``), on every poll (``wait=0``) or at most
        every ``wait`` seconds; never for a final status. As upstream, ``wait`` is the
        callback's interval only: the status is polled every ``poll_interval`` seconds, or
        every ``wait`` seconds when a callback wants it more often. Raises
        ``IBMQJobTimeoutError`` after ``timeout`` seconds.
        """
        last: list[Any] = [None, 0.0]

        def on_status(status: JobStatus) -> None:
            info = self._queue_info()
            key = (status, info.position if info else None)
            now = time.monotonic()
            due = key != last[0] if wait is None else now - last[1] >= wait
            if due:
                last[0], last[1] = key, now
                callback(self.job_id(), status, self, queue_info=info)

        # Not without a callback, nor for wait=0 (upstream's "every new status"): a busy loop
        # of status requests, which the server rate-limits.
        interval = min(poll_interval, wait) if callback and wait else poll_interval
        self._wait_for_completion(timeout, interval, callback=on_status if callback else None)

    # --- results ------------------------------------------------------------------------

    def result(
        self, timeout: float | None = None, wait: float = DEFAULT_POLL_SECONDS,
        partial: bool = False, refresh: bool = False,
    ) -> Result:
        """The job's qiskit Result, waiting for it to finish; cached after the first fetch."""
        if self._wait_for_completion(timeout, wait, required=(JobStatus.DONE,)):
            result = self._retrieve_result(refresh=refresh)
            if result is None:
                raise IBMQJobApiError(f"Unable to retrieve result for job {self.job_id()}: no result.")
            return result
        status = self._cached_status()
        if status is JobStatus.CANCELLED:
            raise IBMQJobInvalidStateError(
                f"Unable to retrieve result for job {self.job_id()}. Job was cancelled."
            )
        if partial:
            result = self._retrieve_result(refresh=refresh)
            if result is not None and result.results:
                return result
        message = self.error_message() or ""
        suffix = (". Use job.error_message() to get more details" if "\n" in message
                  else ": " + message)
        raise IBMQJobFailureError(
            f"Unable to retrieve result for job {self.job_id()}. Job has failed{suffix}"
        )

    def _retrieve_result(self, refresh: bool = False) -> Result | None:
        if self._result_obj is not None and not refresh:
            return self._result_obj
        stored = self._record.get("result")
        fetched = None
        if stored is None or refresh:
            fetched = self._fetch_result()
            if fetched is not None:
                stored = fetched
        if stored is None:
            return None
        where = "downloaded" if fetched is not None else "stored"
        self._check_exact_json(stored, "result", where)
        try:
            self._result_obj = Result.from_dict(self._decoded_result(stored))
        except Exception as err:  # qiskit raises many types on a malformed result dict
            if self._record.get("kind") is None:  # a pre-Qobj job (reference §4.5)
                raise IBMQJobInvalidStateError(
                    f"Unable to retrieve result for job {self.job_id()}: job result is in an "
                    f"unsupported format ({type(err).__name__}: {err})"
                ) from err
            raise IBMQJobApiError(
                f"Unable to retrieve result for job {self.job_id()}: "
                f"the {where} result is malformed ({type(err).__name__}: {err})"
            ) from err
        if fetched is not None:  # kept (and so archived) only once it parses
            self._record["result"] = fetched
            if self._unacknowledged:
                self._unacknowledged = False
                self._api_client.job_result_downloaded(self.job_id())
        return self._result_obj

    def _check_exact_json(self, value: Any, what: str, where: str) -> None:
        """Refuse a payload JSON cannot carry exactly (``NaN``/``Infinity``, which Python's
        json reads from a server's answer): kept in the record, it would be archived
        distorted (JSON writers turn it into null) and ``from_dict(to_dict())`` would fail."""
        try:
            _check_json(value, self.job_id(), what)
        except JobValidationError as err:
            raise IBMQJobApiError(
                f"Unable to retrieve {what} for job {self.job_id()}: the {where} {what} holds "
                f"a value JSON cannot carry, so it cannot be kept as sent ({err})"
            ) from err

    def _decoded_result(self, stored: Any) -> Any:
        """A copy of the result dict as upstream hands it to ``Result.from_dict`` (reference
        §4.6): ``client_version`` injected, ``date`` parsed and moved to local time. The
        record keeps the server's dict untouched, so ``to_dict()`` stays lossless."""
        data = copy.deepcopy(stored)
        if not isinstance(data, dict):
            return data  # Result.from_dict refuses it: reported as malformed
        data["client_version"] = self.client_version
        # qiskit 2.x's Result.to_dict() writes no qobj_id, which terra 0.46's Result requires:
        # a result archived from one qiskit must read on the other.
        data.setdefault("qobj_id", None)
        date = data.get("date")
        if isinstance(date, str):
            try:  # naive (2021 results) means UTC, as upstream forces UTC before converting
                data["date"] = _local(parse_date(date, self.job_id(), "result.date"))
            except JobValidationError:
                pass  # an unreadable date is left as sent rather than hiding the counts
        return data

    def _fetch_result(self) -> dict | None:
        api_status = self._record["status"]
        if api_status in API_ERRORS_WITHOUT_RESULT:
            return None
        if self._record.get("kind") is None:
            raise IBMQJobInvalidStateError(
                f"Unable to retrieve result for job {self.job_id()}: job has an unsupported format."
            )
        final_without_success = self._cached_status() in (JobStatus.ERROR, JobStatus.CANCELLED)
        if final_without_success and self._api_client is None:
            # As a server that cannot hand out a failed job's result (its ApiError is
            # swallowed below): result(partial=True) reports the failure, as result() does.
            return None
        client = self._require_client(
            "download its result (none is stored)" if self._record.get("result") is None
            else "download its result again (refresh=True); result() reads the stored one")
        try:
            if self._record["kind"] == ApiJobKind.QOBJECT.value:
                self.refresh()
                return self._record.get("result")
            if callable(getattr(client, "job_result_downloaded", None)):
                # acknowledged by result() once it parses: a server may serve a result only
                # once (reference 4.5), and one that fails to parse is dropped
                result = client.job_result(self.job_id(), acknowledge=False)
                self._unacknowledged = True
            else:
                result = client.job_result(self.job_id())
        except (ApiError, IBMQJobApiError) as err:
            if final_without_success:
                return None
            raise IBMQJobApiError(f"Unable to retrieve result for job {self.job_id()}: {err}") from err
        if not isinstance(result, dict):
            raise IBMQJobApiError(
                f"Unable to retrieve result for job {self.job_id()}: the server sent "
                f"{type(result).__name__}, not a result dict."
            )
        return result

    def error_message(self) -> str | None:
        """Why the job failed, or None unless it is in ERROR (waits for a final state)."""
        self._wait_for_completion(None, DEFAULT_POLL_SECONDS)
        if self._cached_status() is not JobStatus.ERROR:
            return None
        if self._job_error_msg is None:
            self._job_error_msg = self._format_error()
        return self._job_error_msg

    def _format_error(self) -> str:
        try:
            result = self._retrieve_result()
        except IBMQJobError:
            result = None
        if result is not None:
            # qiskit's ExperimentResult has no `status` attribute when the result omits it
            failed = [f"Experiment {i}: {getattr(exp, 'status', None) or 'Unknown error.'}"
                      for i, exp in enumerate(result.results) if not getattr(exp, "success", True)]
            if failed:
                return "The following experiments failed:\n" + "\n".join(failed)
            err = getattr(result, "error", None) or self._record.get("result", {}).get("error")
            if err:
                return _error_text(err)
        if not self._record.get("error") and self._api_client is not None:
            self.refresh()
        error = self._record.get("error")
        if isinstance(error, dict) and error.get("message") is not None:
            return _error_text(error)
        if self._record["status"].startswith("ERROR"):
            return self._record["status"]
        return "Unknown error."

    def qobj(self) -> dict | None:
        """The Qobj the job ran, as a plain dict (None for jobs without a kind, and for
        runtime jobs, which run a program, not a qobj)."""
        if self._record.get("kind") is None:
            return None
        if self._record.get("qobj") is None:
            if self._record["kind"] == ApiJobKind.RUNTIME.value:
                return None  # none by design: sync and audit do not look for one either
            client = self._require_client("download its qobj (none is stored)")
            if self._record["kind"] == ApiJobKind.QOBJECT.value:
                self.refresh()  # an inline job's qobj is in its document, as its result is
                return copy.deepcopy(self._record.get("qobj"))
            try:
                qobj = client.job_qobj(self.job_id())
            except ApiError as err:
                raise IBMQJobApiError(str(err)) from err
            self._check_exact_json(qobj, "qobj", "downloaded")
            self._record["qobj"] = qobj
        return copy.deepcopy(self._record["qobj"])

    def circuits(self) -> list[QuantumCircuit]:
        """The circuits the job ran, rebuilt from its qobj (``[]`` for a job without one), as
        qiskit-ibmq-provider 0.12+ offers them. A qobj no circuit can hold (pulse) raises
        ``IBMQJobInvalidStateError`` saying why."""
        from .qobj import circuits_from_qobj  # loads qiskit's gate library: on first use

        qobj = self.qobj()
        if not qobj:
            return []
        try:
            return circuits_from_qobj(qobj)
        except ValueError as err:
            raise IBMQJobInvalidStateError(
                f"Unable to rebuild the circuits of job {self.job_id()}: {err}") from err

    def backend_options(self) -> dict[str, Any]:
        """The run options in the job's qobj config (``{}`` without a qobj), as 0.12+ gives
        them: local oscillator frequencies in Hz, as ``backend.run`` takes them (the qobj
        holds GHz), and a pulse job's pulse library left out."""
        qobj = self.qobj()
        config = qobj.get("config") if qobj else None
        if not isinstance(config, dict):
            return {}
        if qobj.get("type") == "PULSE":
            config.pop("pulse_library", None)
        for key in ("qubit_lo_freq", "meas_lo_freq"):
            freqs = config.get(key)
            if isinstance(freqs, list) and all(
                    isinstance(f, int | float) and not isinstance(f, bool) for f in freqs):
                config[key] = [f * 1e9 for f in freqs]
        return config

    def header(self) -> dict[str, Any]:
        """The user header of the job's qobj (``{}`` without a qobj), as 0.12+ gives it."""
        qobj = self.qobj()
        header = qobj.get("header") if qobj else None
        return header if isinstance(header, dict) else {}

    def properties(self) -> dict | None:
        """The backend properties when the job ran, as a dict (None if the server has none)."""
        if self._api_client is None and "_properties" in self._record:
            # The document's `calibration`; 292 real ones carry {} (empty or falsy -> None).
            return copy.deepcopy(self._record["_properties"]) or None
        client = self._require_client("read its backend properties")
        try:
            props = client.job_properties(self.job_id())
        except ApiError as err:
            raise IBMQJobApiError(str(err)) from err
        return props or None

    # --- changes -------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Ask the server to cancel the job; True if it agreed."""
        client = self._require_client("be cancelled")
        try:
            answer = client.job_cancel(self.job_id())
        except ApiError as err:
            self._cancelled = False
            raise IBMQJobApiError(f"Unexpected error when cancelling job {self.job_id()}: {err}") from err
        self._cancelled = "error" not in answer and bool(answer.get("cancelled"))
        return self._cancelled

    def submit(self) -> None:
        """Jobs are submitted by ``backend.run()``; a job with an id cannot be submitted again."""
        raise IBMQJobInvalidStateError(f"The job {self.job_id()} has already been submitted.")

    def update_name(self, name: str) -> str:
        """Rename the job on the server; returns the new name."""
        if not isinstance(name, str):
            raise IBMQJobInvalidStateError(
                f'"{name}" of type "{type(name)}" is not a valid job name. '
                "The job name needs to be a string."
            )
        answer = self._put_attribute("name", name)
        if answer.get("name") != name:
            raise IBMQJobApiError(
                f"An unexpected error occurred when updating the name for job {self.job_id()}. "
                "The name was not updated for the job."
            )
        self._record["name"] = name
        return name

    def update_tags(
        self,
        replacement_tags: list[str] | None = None,
        additional_tags: list[str] | None = None,
        removal_tags: list[str] | None = None,
    ) -> list[str]:
        """Replace, then add, then remove tags on the server (``ibmq_jobset_`` tags are kept).

        A live job read from a job list is read in full first: the real server's list items
        carry no tags, and the new tags are computed from the current ones.
        """
        def updated() -> list[str]:
            return apply_tag_update(list(self._record["tags"]), replacement_tags,
                                    additional_tags, removal_tags, IBMQJobInvalidStateError)

        updated()  # validates the arguments before anything is sent
        self._read_in_full("tags")
        new_tags = updated()
        answer = self._put_attribute("tags", new_tags)
        echoed = answer.get("tags")
        if not isinstance(echoed, list) or set(echoed) != set(new_tags):
            raise IBMQJobApiError(
                f"An unexpected error occurred when updating the tags for job {self.job_id()}. "
                "The tags were not updated for the job."
            )
        self._record["tags"] = list(echoed)
        return list(echoed)

    def _put_attribute(self, attr: str, value: Any) -> dict[str, Any]:
        client = self._require_client(f"update its {attr}")
        try:
            answer = client.job_update_attribute(self.job_id(), attr, value)
        except ApiError as err:
            raise IBMQJobApiError(str(err)) from err
        return answer if isinstance(answer, dict) else {}


def job_monitor(job: IBMQJob, interval: float | None = None, output: TextIO | None = None) -> None:
    """Print the job's status on one line (``\\rJob Status: ...``) until it is final, as
    qiskit-ibmq-provider's ``job_monitor`` does: the queue position and estimated wait
    while queued, the scheduling mode while running, the error message if it fails.

    ``interval``: seconds between status requests; by default 2, or the queue position
    while queued (a job far back in the queue is asked about less often).
    """
    output = sys.stdout if output is None else output
    status = job.status()
    msg = prev_msg = status.value
    width = len(msg)
    prev_wait = ""
    print(f"\rJob Status: {msg}", end="", file=output)
    wait = 5.0 if interval is None else interval
    while status not in JOB_FINAL_STATES:
        time.sleep(wait)
        status = job.status()
        msg = status.value
        if status is JobStatus.QUEUED:
            info = job.queue_info()
            if info is not None and info.estimated_start_time is not None:
                prev_wait = _relative(info.estimated_start_time)
            position = job.queue_position()
            msg += f" ({position}) [Est. wait time: {prev_wait}]"
            if interval is None:
                wait = max(position or 0, 2)
        elif interval is None:
            wait = 2
        if status is JobStatus.RUNNING:
            mode = job.scheduling_mode()
            msg = "RUNNING" + (f" - {mode}" if mode else "")
        elif status is JobStatus.ERROR:
            msg = f"ERROR - {job.error_message()}"
        # Pad to the longest line so far: no leftovers of a longer one after the \r.
        msg, width = msg.ljust(width), max(width, len(msg))
        if msg != prev_msg:
            print(f"\rJob Status: {msg}", end="", file=output)
            prev_msg = msg
    print("", file=output)


def validate_tags(tags: Any, error_cls: type[Exception]) -> list[str] | None:
    """Upstream's rule: a truthy value must be a list of str."""
    if not tags:
        return tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise error_cls("job_tags needs to be a list or strings.")
    return tags


def apply_tag_update(
    current: list[str],
    replacement_tags: list[str] | None,
    additional_tags: list[str] | None,
    removal_tags: list[str] | None,
    error_cls: type[Exception] = IBMQJobInvalidStateError,
) -> list[str]:
    """The tags after ``update_tags`` semantics: replace, then add, then remove.

    Replacement applies only when it is a list (``[]`` clears); ``ibmq_jobset_`` tags always
    survive. The result keeps the order of first appearance so plans are stable.
    """
    if replacement_tags is None and additional_tags is None and removal_tags is None:
        raise error_cls("The tags cannot be updated since none of the parameters are specified.")
    tags = list(dict.fromkeys(current))
    if isinstance(replacement_tags, list):
        validate_tags(replacement_tags, error_cls)
        kept = [t for t in tags if t.startswith(JOBSET_TAG_PREFIX)]
        tags = list(dict.fromkeys(replacement_tags + kept))
    if additional_tags:
        validate_tags(additional_tags, error_cls)
        tags = list(dict.fromkeys(tags + additional_tags))
    if removal_tags:
        validate_tags(removal_tags, error_cls)
        drop = {t for t in removal_tags if not t.startswith(JOBSET_TAG_PREFIX)}
        tags = [t for t in tags if t not in drop]
    return tags


def _plain(value: Any) -> Any:
    """qiskit Result/Qobj objects -> JSON-only dicts; dicts and None pass through.

    Only what this library converts itself is made JSON-only: a user's own dict is the
    record format and is validated as given (``JobValidationError`` on numpy values).
    """
    if value is None or isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _json_only(to_dict())
    return value


def _json_only(value: Any) -> Any:
    """``value`` with the non-JSON types qiskit's ``to_dict()`` emits made plain, exactly.

    numpy scalars and arrays (BasicSimulator's ``seed_simulator`` is an int32), enums
    (``MeasLevel``), datetimes (``Result.date``) and complex numbers (``[re, im]``, the
    wire format ``format_statevector`` reads back). What cannot be converted without loss
    (NaN, a long double) is left as is, so validation names it.
    """
    if isinstance(value, dict):
        return {(str(k) if isinstance(k, np.str_) else k): _json_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_only(v) for v in value]
    if isinstance(value, enum.Enum):  # before str/int: str(StrEnum member) is its name
        return _json_only(value.value)
    if isinstance(value, str):
        return str(value)  # np.str_
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        plain = float(value)
        return plain if plain == value or not math.isfinite(plain) else value
    if isinstance(value, complex | np.complexfloating):
        re, im = _json_only(value.real), _json_only(value.imag)
        return [re, im] if type(re) is float and type(im) is float else value
    if isinstance(value, datetime):
        return format_date(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return _json_only(np.asarray(value).tolist())  # e.g. a Statevector
    return value


def _error_text(error: Any) -> str:
    """An error object as upstream formats it (``"<message>. Error code: <code>."``), for the
    job's ``error`` and a result's ``error`` alike; anything else as its text."""
    if isinstance(error, dict) and error.get("message") is not None:
        return f"{error['message']}. Error code: {error.get('code')}."
    return str(error)


def _backend_name(backend: Any) -> str | None:
    name = getattr(backend, "name", None)
    return name() if callable(name) else name


__all__ = ["ArchivedBackend", "IBMQJob", "QueueInfo", "apply_tag_update", "job_monitor",
           "validate_tags"]
