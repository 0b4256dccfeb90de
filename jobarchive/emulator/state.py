"""The emulator's server-side state: the clock, the jobs, faults and request statistics.

Kept apart from the HTTP layer so every rule (lifecycle, validation, cancel, listing) is
plain Python that the handler only calls.
"""

from __future__ import annotations

import json
import random
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from typing import Any

from ..status import API_FINAL_STATUSES
from . import backends, history
from .filters import ListFilter
from .jobs import Job, JobView, Project, fmt_ms

FAULT_KINDS = ("500", "502", "503", "504", "429", "latency", "drop", "malformed")
# Only when named: "garbled", the request is carried out, then its answer is cut short (a
# POST that took effect although the client cannot read the answer); Cloudflare's origin
# errors 520 (unknown), 522 (origin unreachable) and 524 (origin timed out), which the real
# service sat behind (realdata headers); "404", a front end's HTML "404 Not Found" page (a
# proxy that briefly fails to route a path the server has).
EXTRA_FAULT_KINDS = ("garbled", "520", "522", "524", "404")
# The login flow (reference §3.1 steps 1-5) is never faulted unless a spec names it.
LOGIN_ENDPOINTS = frozenset({"version", "login", "users_me", "network", "devices"})


class Clock:
    """Emulated time: wall time at start, running ``time_scale`` times faster, plus jumps."""

    def __init__(self, time_scale: float = 60.0, start: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = float(time_scale)
        self.start = time.time() if start is None else float(start)
        self._mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Emulated epoch seconds."""
        return self.start + (time.monotonic() - self._mono) * self.time_scale + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Jump the emulated clock forward (tests use it instead of sleeping)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds


class Faults:
    """Deterministic fault decisions from a spec (see Emulator.set_faults)."""

    def __init__(self, spec: dict[str, Any] | None) -> None:
        spec = dict(spec or {})
        rate = spec.get("rate", 0.0)
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("faults rate must be a number in [0, 1]")
        kinds = [str(k) for k in spec.get("kinds", FAULT_KINDS)]
        unknown = set(kinds) - set(FAULT_KINDS) - set(EXTRA_FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use "
                             f"{list(FAULT_KINDS + EXTRA_FAULT_KINDS)}")
        self.rate = float(rate)
        self.kinds = kinds
        self.latency = float(spec.get("latency", 0.05))
        # Retry-After of a 429 (None: not sent); X-RateLimit-Reset is that far ahead too (or
        # `reset_after` seconds, default 1), as the real server's rate-limit headers say.
        self.retry_after = spec.get("retry_after", 0)
        self.retry_after_date = bool(spec.get("retry_after_date", False))  # an HTTP date
        self.reset_after = float(spec.get("reset_after", self.retry_after or 1))
        self.processed = bool(spec.get("processed", False))  # faults after the effect
        endpoints = spec.get("endpoints")
        self.endpoints = None if endpoints is None else frozenset(endpoints)
        self._rng = random.Random(spec.get("seed", 0))
        self._lock = threading.Lock()

    def decide(self, endpoint: str) -> str | None:
        if self.rate <= 0:
            return None
        if self.endpoints is None:
            if endpoint in LOGIN_ENDPOINTS:
                return None
        elif endpoint not in self.endpoints:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self.kinds[self._rng.randrange(len(self.kinds))]

    def pick(self, n: int) -> int:
        with self._lock:
            return self._rng.randrange(n)


class ValidationFailed(Exception):
    """A qobj the emulated server refuses (the job ends in ERROR_VALIDATING_JOB)."""


class State:
    """All jobs and the rules that move them. Thread-safe."""

    def __init__(self, seed_jobs: int = 0, seed: int = 0, seed_active: int = 0,
                 time_scale: float = 60.0, job_limit: int | None = None,
                 clock_start: float | None = None, seed_tied: int = 0,
                 memory_results: bool = False, naive_result_dates: bool = False) -> None:
        if seed_jobs < 0 or seed_active < 0 or seed_tied < 0:
            raise ValueError("seed_jobs, seed_active and seed_tied must be >= 0")
        self.lock = threading.RLock()
        self.clock = Clock(time_scale, clock_start)
        self.projects = (Project("ibm-q", "open", "main", True),
                         Project("ibm-q-research", "uni-lab", "qc-course"))
        self.default_project = self.projects[0]
        self.job_limit = job_limit
        self.memory_results = memory_results  # seeded results carry every shot (data.memory)
        self.naive_result_dates = naive_result_dates  # result "date" without its zone (2021)
        jobs = history.seed_history(seed_jobs, seed, self.default_project)
        if seed_tied:
            at = jobs[-1].created + 1 if jobs else history.WINDOW_END
            jobs += history.seed_tied(seed_tied, seed, self.default_project, at)
        after = jobs[-1].created if jobs else 0
        active = history.seed_active(seed_active, seed, self.default_project,
                                     self.clock.now_ms(), after)
        for job in active:
            job.lock = threading.Lock()
        self.order: list[Job] = jobs + active
        self.ms: list[int] = [j.created for j in self.order]
        self.jobs: dict[str, Job] = {j.id: j for j in self.order}
        self.live: set[Job] = set(active)       # jobs that may still move
        self._rng = random.Random(f"jobarchive-emulator-submit:{seed}")

    # -- lookups ----------------------------------------------------------------------------
    def project(self, hub: str, group: str, project: str) -> Project | None:
        for p in self.projects:
            if (p.hub, p.group, p.project) == (hub, group, project):
                return p
        return None

    def get(self, job_id: str, project: Project | None = None, user: str | None = None) -> Job:
        """A job by id; KeyError when deleted, or not of ``project`` or of account ``user``."""
        job = self.jobs.get(job_id)
        if job is None or job.deleted or (project is not None and job.project is not project) \
                or (user is not None and job.user_id != user):
            raise KeyError(job_id)
        return job

    def status(self, job: Job, now: int | None = None) -> str:
        """The job's status now, doing any lazy validation or simulation that is due."""
        if now is None:
            now = self.clock.now_ms()
        if job.pending is not None:
            self._advance(job, now)
        return job.status_at(now)

    def _advance(self, job: Job, now: int) -> None:
        assert job.lock is not None
        with job.lock:
            if job.pending == "validate":
                validated = job.step_ms("VALIDATED")
                if validated is not None and now >= validated:
                    try:
                        self._validate(job)
                    except ValidationFailed as exc:
                        cut = job.step_ms("VALIDATING") or job.created
                        job.timeline = [s for s in job.timeline if s[1] <= cut] + [
                            ("ERROR_VALIDATING_JOB", validated)]
                        job.error = {"code": 1101, "message": f"Qobj validation failed: {exc}"}
                        job.pending = None
                        return
                    job.pending = "simulate"
            if job.pending == "simulate":
                running = job.step_ms("RUNNING")
                if running is not None and now >= running:
                    self._simulate(job)
                    job.pending = None

    def _validate(self, job: Job) -> None:
        from ..qobj import circuits_from_qobj

        qobj = job.qobj
        if not isinstance(qobj, dict):
            raise ValidationFailed("the uploaded job data is not a JSON object")
        spec = backends.BY_NAME[job.backend]
        try:
            circuits = circuits_from_qobj(qobj)
        except Exception as exc:  # any failure to read the qobj is a validation error
            raise ValidationFailed(str(exc) or type(exc).__name__) from None
        conf = backends.configuration(spec)
        shots = (qobj.get("config") or {}).get("shots", 1024)
        if isinstance(shots, int) and shots > conf["max_shots"]:
            raise ValidationFailed(f"Number of shots {shots} exceeds the maximum of "
                                   f"{conf['max_shots']} for {spec.name}.")
        if len(circuits) > conf["max_experiments"]:
            raise ValidationFailed(f"{len(circuits)} experiments exceed the maximum of "
                                   f"{conf['max_experiments']}.")
        for c in circuits:
            if c.num_qubits > spec.n_qubits:
                raise ValidationFailed(f"circuit {c.name} uses {c.num_qubits} qubits; "
                                       f"{spec.name} has {spec.n_qubits}.")

    def _simulate(self, job: Job) -> None:
        from ..qobj import simulate_qobj

        spec = backends.BY_NAME[job.backend]
        end = job.end_ms()
        config = job.qobj.get("config") if isinstance(job.qobj, dict) else None
        seed = None if isinstance(config, dict) and config.get("seed_simulator") is not None \
            else job.seed
        try:
            job.result = simulate_qobj(job.qobj, seed=seed, backend_name=spec.name,
                                       backend_version=spec.version, job_id=job.id,
                                       date=fmt_ms(end)[:-1] + "000Z")
        except Exception as exc:  # the emulated device failed to run it
            if job.final_status() == "COMPLETED":
                job.timeline = job.timeline[:-1] + [("ERROR_RUNNING_JOB", end)]
                job.error = {"code": 5205, "message": f"Job failed while running: {exc}"}

    # -- listing ----------------------------------------------------------------------------
    def list_jobs(self, flt: ListFilter, project: Project, now: int,
                  user: str | None = None) -> list[tuple[Job, str]]:
        """Jobs matching a parsed filter, in order, after skip and limit (only the account
        ``user``'s own jobs when given: an account does not see another's jobs)."""
        with self.lock:
            order, ms = self.order, self.ms
            n = len(order)
        lo, hi = flt.bounds
        i0 = 0 if lo is None else bisect_left(ms, lo, 0, n)
        i1 = n if hi is None else bisect_right(ms, hi, 0, n)
        indices = range(i1 - 1, i0 - 1, -1) if flt.descending else range(i0, i1)
        skip = flt.skip or 0
        limit = flt.limit or None
        pred = self.status
        out: list[tuple[Job, str]] = []
        for i in indices:
            job = order[i]
            if job.deleted or job.unreachable or job.project is not project or (user is not None
                                                             and job.user_id != user):
                continue
            view = JobView(job, now, pred)
            if not flt.predicate(view):
                continue
            if skip:
                skip -= 1
                continue
            out.append((job, view.status))
            if limit is not None and len(out) >= limit:
                break
        return out

    def all_jobs(self) -> list[Job]:
        with self.lock:
            return [j for j in self.order if not j.deleted]

    def queue_length(self, backend: str, now: int) -> int:
        with self.lock:
            live = list(self.live)
        return sum(1 for j in live if j.backend == backend and self.status(j, now) == "QUEUED")

    def running_jobs(self, backend: str, project: Project, now: int) -> int:
        with self.lock:
            live = list(self.live)
        done = []
        count = 0
        for j in live:
            status = self.status(j, now)
            if status in API_FINAL_STATUSES:
                done.append(j)
            elif j.backend == backend and j.project is project:
                count += 1
        with self.lock:
            self.live.difference_update(done)
        return count

    # -- changes ----------------------------------------------------------------------------
    def create(self, project: Project, backend: str, name: str | None, tags: list[str] | None,
               share_level: str | None, client_info: dict[str, Any] | None,
               experiment_tag: str | None = None, user: str | None = None) -> Job:
        now = self.clock.now_ms()
        with self.lock:
            created = max(now, (self.ms[-1] + 1) if self.ms else now)
            job_id = f"{created // 1000:08x}{self._rng.getrandbits(64):016x}"
            job = Job(job_id, created, backend, project)
            job.name, job.share_level = name, share_level
            job.tags = list(tags) if tags is not None else None
            job.client_info = client_info
            job.experiment_tag = experiment_tag
            if user is not None:
                job.user_id = user
            job.pending = "upload"
            job.lock = threading.Lock()
            job.seed = self._rng.getrandbits(31)
            self.order.append(job)
            self.ms.append(created)
            self.jobs[job_id] = job
            self.live.add(job)
        return job

    def upload(self, job: Job, body: bytes) -> None:
        """The object-storage PUT of a job's qobj (stored, judged at validation)."""
        try:
            job.qobj = json.loads(body)
        except (ValueError, RecursionError):
            job.qobj = None
        job.input_size = len(body)

    def confirm(self, job: Job) -> bool:
        """``jobDataUploaded``: start the lifecycle. False if the job cannot take it now."""
        now = self.clock.now_ms()
        if job.lock is None:
            return False  # seeded history: its data was uploaded long ago
        with job.lock:
            if job.pending != "upload":
                return job.pending is not None or job.status_at(now) not in API_FINAL_STATUSES
            spec = backends.BY_NAME[job.backend]
            r = random.Random(job.seed)
            t = max(now, job.created)
            tl = [("CREATING", job.created), ("CREATED", t)]
            for status, dt in (("VALIDATING", 300), ("VALIDATED", 900), ("QUEUED", 300)):
                t += dt
                tl.append((status, t))
            t += r.randint(2_000, 6_000) if spec.simulator else r.randint(10_000, 40_000)
            tl.append(("RUNNING", t))
            t += r.randint(1_000, 3_000) if spec.simulator else r.randint(5_000, 15_000)
            tl.append(("COMPLETED", t))
            job.queue0 = r.randint(1, 5)
            job.timeline = tl
            job.pending = "validate"
        return True

    def cancel(self, job: Job) -> bool:
        """Cancel a job that is not final; False when it already is."""
        now = self.clock.now_ms()
        if job.lock is None:
            return False  # seeded history: final by construction
        with job.lock:
            if job.status_at(now) in API_FINAL_STATUSES and job.pending is None:
                return False
            if job.pending in ("validate", "simulate"):
                # Settle what is already due first (a job past RUNNING has run).
                job.lock.release()
                try:
                    self._advance(job, now)
                finally:
                    job.lock.acquire()
                if job.status_at(now) in API_FINAL_STATUSES:
                    return False
            kept = [s for s in job.timeline if s[1] <= now]
            job.timeline = kept + [("CANCELLED", max(now, kept[-1][1]))]
            job.pending = None
            job.result = None
        return True

    def update(self, job: Job, name: Any = ..., tags: Any = ...) -> None:
        with self.lock:
            if name is not ...:
                job.name = name
            if tags is not ...:
                job.tags = list(tags)

    def delete(self, job: Job) -> None:
        with self.lock:
            job.deleted = True

    # -- payloads ---------------------------------------------------------------------------
    def result(self, job: Job, now: int | None = None) -> dict[str, Any] | None:
        status = self.status(job, now)
        if job.recipe is not None:
            result = history.result_for(job, self.memory_results) \
                if status in API_FINAL_STATUSES else None
        elif status != "COMPLETED":
            return None
        else:
            result = job.result
        if self.naive_result_dates and isinstance(result, dict) \
                and isinstance(result.get("date"), str) and result["date"].endswith("Z"):
            result = {**result, "date": result["date"][:-1]}  # "...42.207000Z": UTC, unsaid
        return result

    def qobj(self, job: Job) -> dict[str, Any] | None:
        if job.qobj_lost:
            return None
        if job.recipe is not None:
            return history.qobj_for(job, self.memory_results)
        return job.qobj if isinstance(job.qobj, dict) else None

    def output_size(self, job: Job) -> int:
        if job.recipe is not None:
            return 350 + 260 * job.recipe[2]  # a plausible size; the result is built on demand
        return len(json.dumps(job.result or {}))


class Stats:
    """Requests served, per endpoint name and in total."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1
            self._counts["total"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            out = dict(self._counts)
        out.setdefault("total", 0)
        return out

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
