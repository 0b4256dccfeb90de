"""The emulator's job model: compact jobs whose status is a function of the clock.

A job holds a *timeline*, the list of ``(server status, epoch ms)`` steps it goes through,
planned when it is created. Its status at time ``t`` is the last step at or before ``t``, so
no background thread moves jobs forward. Documents are built on demand from the compact
job (100,000 seeded jobs would not fit in memory as full dicts). Submitted jobs validate
their qobj and run it on BasicSimulator lazily, the first time someone looks at them after
the step that needs it was reached.
"""

from __future__ import annotations

import threading
import time
import zlib
from array import array
from collections.abc import Callable
from typing import Any

from ..status import API_FINAL_STATUSES
from . import backends
from .filters import MISSING, parse_date_ms, resolve_path

KIND = "q-object-external-storage"
USER_ID = "5f3e2d1c0b9a887766554433"
CLIENT_HEADER_DEFAULT = {"name": "unknown", "version": "unknown"}


_STEPS: dict[tuple[str, ...], tuple[str, ...]] = {}  # one shared tuple per distinct path


def fmt_ms(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the wire's date spelling)."""
    s, frac = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:03d}Z"


class Project:
    """One hub/group/project triple."""

    __slots__ = ("hub", "group", "project", "is_default")

    def __init__(self, hub: str, group: str, project: str, is_default: bool = False) -> None:
        self.hub, self.group, self.project, self.is_default = hub, group, project, is_default

    def hub_info(self) -> dict[str, Any]:
        return {"hub": {"name": self.hub}, "group": {"name": self.group},
                "project": {"name": self.project}}


class Job:
    """One job, compact. ``timeline`` is the planned path; ``pending`` the lazy work left."""

    __slots__ = (
        "id", "created", "created_iso", "backend", "name", "tags", "share_level", "client_info",
        "run_mode", "_steps", "_times", "error", "qobj", "recipe", "result", "project", "queue0",
        "input_size", "pending", "lock", "deleted", "qobj_lost", "experiment_tag", "seed",
        "unreachable",
        "user_id",
    )

    def __init__(self, job_id: str, created: int, backend: str, project: Project,
                 iso: bool = True) -> None:
        self.id = job_id
        self.created = created
        self.created_iso = fmt_ms(created) if iso else ""
        self.backend = backend
        self.project = project
        self.name: str | None = None
        # None: never given. The real server then leaves the field out of the job's documents
        # (realdata: 2021 list items and job-creation answers carry no tags); the client
        # reads a missing `tags` as [] (reference §1.3, §4.2).
        self.tags: list[str] | None = None
        # None: never given (clients since qiskit-ibmq-provider 0.15 send none): left out of
        # the job's documents as the real server does (realdata: no recorded document has it).
        self.share_level: str | None = None
        self.client_info: dict[str, Any] | None = None
        self.run_mode = "fairshare"
        self._steps: tuple[str, ...] = ("CREATING",)
        self._times = array("q", (created,))
        self.error: dict[str, Any] | None = None
        self.qobj: dict[str, Any] | None = None      # submitted jobs: the uploaded qobj
        self.recipe: tuple | None = None             # seeded jobs: how to rebuild qobj/result
        self.result: dict[str, Any] | None = None    # submitted jobs: the simulated result
        self.queue0 = 0                              # queue position when it entered QUEUED
        self.input_size = 0
        self.pending: str | None = None              # "upload", "validate", "simulate" or None
        self.lock: threading.Lock | None = None
        self.deleted = False
        # (HTTP status, code, message): not listed, and every request about it answers this
        # error (a retired platform's history, a server that lost track of it): not a 404.
        self.unreachable: tuple[int, int | str, str] | None = None
        self.qobj_lost = False                       # the server no longer holds its qobj
        self.experiment_tag: str | None = None
        self.seed = 0
        self.user_id = USER_ID                       # the account that submitted it

    # -- time -------------------------------------------------------------------------------
    # The timeline is kept compact (a shared tuple of status names and an int64 array), since
    # 100,000 lists of (status, ms) tuples would cost ~1 KB a job. Assign, never mutate.
    @property
    def timeline(self) -> list[tuple[str, int]]:
        return list(zip(self._steps, self._times, strict=True))

    @timeline.setter
    def timeline(self, steps: list[tuple[str, int]]) -> None:
        names, times = zip(*steps, strict=True)
        self._steps = _STEPS.setdefault(names, names)
        self._times = array("q", times)

    def status_at(self, now: int) -> str:
        times = self._times
        if now >= times[-1]:
            return self._steps[-1]
        for i in range(len(times) - 1, -1, -1):
            if times[i] <= now:
                return self._steps[i]
        return self._steps[0]

    def step_ms(self, status: str) -> int | None:
        try:
            return self._times[self._steps.index(status)]
        except ValueError:
            return None

    def final_status(self) -> str:
        return self._steps[-1]

    def end_ms(self) -> int:
        return self._times[-1]

    def reached(self, status: str, now: int) -> bool:
        ms = self.step_ms(status)
        return ms is not None and ms <= now

    # -- documents --------------------------------------------------------------------------
    def info_queue(self, now: int) -> dict[str, Any] | None:
        """Queue details while the job is QUEUED: position shrinks as the wait runs out."""
        q, r = self.step_ms("QUEUED"), self.step_ms("RUNNING")
        end = self._times[-1] if r is None else r
        if q is None or not q <= now < end:
            return None
        span = max(end - q, 1)
        left = (end - now) / span
        position = max(1, round(self.queue0 * left))
        spec = backends.BY_NAME.get(self.backend)
        run = 30_000 if spec is None or spec.simulator else 120_000
        return {
            "status": "PENDING_IN_QUEUE",
            "position": position,
            "estimatedStartTime": fmt_ms(end),
            "estimatedCompleteTime": fmt_ms(end + run),
            "hubPriority": round(0.3 + (zlib.crc32(self.id.encode()) % 50) / 100, 2),
            "groupPriority": 0.5,
            "projectPriority": 0.5,
        }

    def base_doc(self, status: str, now: int) -> dict[str, Any]:
        """The fields every answer about the job carries (list, status and info)."""
        spec = backends.BY_NAME.get(self.backend)
        doc: dict[str, Any] = {
            "kind": KIND,
            "backend": {"id": spec.backend_id if spec else "000000000000000000000000",
                        "name": self.backend},
            "status": status,
            "creationDate": self.created_iso,
            "hubInfo": self.project.hub_info(),
        }
        if status in API_FINAL_STATUSES:
            doc["endDate"] = fmt_ms(self._times[-1])
        if self.reached("RUNNING", now):
            doc["runMode"] = self.run_mode
        doc["id"] = self.id
        doc["userId"] = self.user_id
        if self.name is not None:
            doc["name"] = self.name
        if self.tags is not None:
            doc["tags"] = list(self.tags)
        if self.share_level is not None:
            doc["shareLevel"] = self.share_level
        if self.experiment_tag is not None:
            doc["experimentTag"] = self.experiment_tag
        return doc

    def status_doc(self, status: str, now: int) -> dict[str, Any]:
        doc = self.base_doc(status, now)
        if status == "QUEUED":
            iq = self.info_queue(now)
            if iq is not None:
                doc["infoQueue"] = iq
        return doc

    def full_doc(self, status: str, now: int, output_size: int | None = None) -> dict[str, Any]:
        doc = self.status_doc(status, now)
        doc["clientInfo"] = dict(self.client_info or CLIENT_HEADER_DEFAULT)
        doc["allowObjectStorage"] = True
        doc["deleted"] = self.deleted
        doc["liveDataEnabled"] = False
        doc["timePerStep"] = {s: fmt_ms(ms) for s, ms in self.timeline if ms <= now}
        summary: dict[str, Any] = {}
        if self.input_size:
            summary["size"] = {"input": self.input_size}
        if status == "COMPLETED":
            summary.setdefault("size", {})["output"] = output_size or 0
            summary["success"] = True
            run, end = self.step_ms("RUNNING"), self._times[-1]
            summary["resultTime"] = round((end - (run or end)) / 1000, 3)
        elif status.startswith("ERROR"):
            summary["success"] = False
        if summary:
            doc["summaryData"] = summary
        if status.startswith("ERROR") and self.error is not None:
            doc["error"] = dict(self.error)
        return doc


class JobView:
    """The filter view of one job at one instant (see filters.compile_where)."""

    __slots__ = ("job", "now", "status", "_doc")

    def __init__(self, job: Job, now: int, status_of: Callable[[Job, int], str]) -> None:
        self.job, self.now = job, now
        self.status = status_of(job, now)
        self._doc: dict[str, Any] | None = None

    def get(self, path: str) -> Any:
        job = self.job
        if path == "status":
            return self.status
        if path == "creationDate":
            return job.created_iso
        if path == "backend.name":
            return job.backend
        if path == "id":
            return job.id
        if path == "tags":
            return MISSING if job.tags is None else job.tags
        if path == "name":
            return MISSING if job.name is None else job.name
        if path == "shareLevel":
            return MISSING if job.share_level is None else job.share_level
        if path == "kind":
            return KIND
        if path == "hubInfo.hub.name":
            return job.project.hub
        if path == "hubInfo.group.name":
            return job.project.group
        if path == "hubInfo.project.name":
            return job.project.project
        if self._doc is None:
            self._doc = job.full_doc(self.status, self.now)
        return resolve_path(self._doc, path)

    def get_ms(self, path: str) -> int | None:
        if path == "creationDate":
            return self.job.created
        return parse_date_ms(self.get(path))
