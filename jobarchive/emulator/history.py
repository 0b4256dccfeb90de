"""A deterministic synthetic job history, with qobjs and results rebuilt on demand.

``seed_history(n, seed)`` plans ``n`` final jobs spread over three years (2020-03 to
2023-03, the legacy API's last years): several backends (one retired), names, tag
vocabularies with job sets (``ibmq_jobset_`` tags), share levels, run modes, client versions,
about 86% COMPLETED and the rest CANCELLED or ERROR_* with error bodies. A job keeps only a
small *recipe*; ``qobj_for`` and ``result_for`` rebuild its qobj and result from it, so the
same seed always gives the same documents, qobjs and counts, and 100,000 jobs fit in memory.
Counts are sampled from the circuit's ideal distribution with per-day readout noise on
devices, so they are plausible for the qobj the job carries.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any

import numpy as np

from . import backends
from .jobs import Job, Project, fmt_ms

WINDOW_START = int(datetime(2020, 3, 1, tzinfo=UTC).timestamp() * 1000)
WINDOW_END = int(datetime(2023, 3, 1, tzinfo=UTC).timestamp() * 1000)

NAME_BASES = ("bell", "ghz", "vqe-h2", "qaoa-maxcut", "grover", "rb", "tomography", "teleport",
              "qft", "calibration-check", "bv-secret", "rabi-sweep")
TAG_VOCAB = ("exp1", "exp2", "exp3", "vqe", "qaoa", "benchmark", "paper-2021", "nightly",
             "student", "calibration", "run-a", "run-b", "hardware", "noise-study")
SHARE_LEVELS = ("none",) * 16 + ("project", "project", "group", "hub", "global")
CLIENTS = {
    2020: ({"name": "qiskit", "version": "0.19.6"}, {"name": "qiskit", "version": "0.20.0"},
           {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.15.2,0.8.0"},
           {"name": "qiskit", "version": "0.23.0"}),
    2021: ({"name": "qiskit", "version": "0.23.6"}, {"name": "qiskit", "version": "0.25.0"},
           {"name": "qiskit", "version": "0.29.0"},
           {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.17.4,0.13.1"}),
    2022: ({"name": "qiskit", "version": "0.34.2"}, {"name": "qiskit", "version": "0.36.2"},
           {"name": "qiskit", "version": "0.39.0"},
           {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.21.2,0.19.2"}),
    2023: ({"name": "qiskit", "version": "0.41.1"},
           {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.23.2,0.20.2"}),
}
ERRORS = {
    "ERROR_CREATING_JOB": ({"code": 3402, "message": "Job creation failed: the job data was "
                                                     "not uploaded in time."},),
    "ERROR_VALIDATING_JOB": (
        {"code": 1109, "message": "Number of shots exceeds maximum allowed number of shots."},
        {"code": 1106, "message": "Qubit measurement is followed by instructions."},
    ),
    "ERROR_RUNNING_JOB": (
        {"code": 5201, "message": "Job timed out after 28800 seconds."},
        {"code": 8004, "message": "Backend went offline during execution.\nThe job could not "
                                  "be completed; please resubmit."},
        {"code": 5204, "message": "Experiment failed on the device: readout out of range."},
    ),
}
FAMILIES = ("bell", "ghz", "superposition", "basis", "rx-sweep")

# How jobs end: cumulative weights over final statuses.
_FINALS = ("COMPLETED", "CANCELLED", "ERROR_VALIDATING_JOB", "ERROR_RUNNING_JOB",
           "ERROR_CREATING_JOB")
_FINAL_CUM = (0.86, 0.91, 0.95, 0.985, 1.0)
_backend_cache: dict[int, tuple[tuple[str, ...], tuple[float, ...]]] = {}


def _below(rng: random.Random, n: int) -> int:
    """An int in [0, n): ``random()`` is a single C call, ``randrange`` a slow Python path."""
    return int(rng.random() * n)


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """An int in [lo, hi]."""
    return lo + int(rng.random() * (hi - lo + 1))


def _backends_at(ms: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Backends online in the month of ``ms`` and cumulative weights (simulator ~35%)."""
    d = datetime.fromtimestamp(ms / 1000, UTC)
    key = d.year * 100 + d.month
    hit = _backend_cache.get(key)
    if hit is None:
        names = [b.name for b in backends.BACKENDS if b.online[0] <= key <= b.online[1]]
        devices = [n for n in names if n != "ibmq_qasm_simulator"]
        weights = [0.35 if n == "ibmq_qasm_simulator" else 0.65 / max(len(devices), 1)
                   for n in names]
        cum, acc = [], 0.0
        for w in weights:
            acc += w
            cum.append(acc / sum(weights))
        hit = _backend_cache[key] = (tuple(names), tuple(cum))
    return hit


def _pick(rng: random.Random, names: tuple[str, ...], cum: tuple[float, ...]) -> str:
    return names[min(bisect_right(cum, rng.random()), len(names) - 1)]


def _plan_timeline(job: Job, rng: random.Random, final: str, start: int, sim: bool) -> None:
    """Fill the timeline of a job that ends in ``final`` (durations in ms)."""
    t = start
    tl = [("CREATING", t)]
    if final == "ERROR_CREATING_JOB":
        tl.append((final, t + _between(rng, 1_000, 60_000)))
        job.timeline = tl
        return
    t += _between(rng, 300, 3_000)
    tl.append(("CREATED", t))
    t += _between(rng, 100, 1_500)
    tl.append(("VALIDATING", t))
    if final == "ERROR_VALIDATING_JOB":
        tl.append((final, t + _between(rng, 200, 2_000)))
        job.timeline = tl
        return
    t += _between(rng, 200, 2_500)
    tl.append(("VALIDATED", t))
    t += _between(rng, 50, 800)
    tl.append(("QUEUED", t))
    job.queue0 = _between(rng, 1, 4) if sim else _between(rng, 1, 60)
    queue = int(rng.expovariate(1 / (8_000 if sim else 900_000))) + 500
    run = _between(rng, 300, 15_000) if sim else _between(rng, 5_000, 240_000)
    if final == "CANCELLED" and rng.random() < 0.7:
        tl.append(("CANCELLED", t + _between(rng, 1, queue)))
        job.timeline = tl
        return
    t += queue
    tl.append(("RUNNING", t))
    if final == "CANCELLED":
        tl.append(("CANCELLED", t + _between(rng, 100, run)))
    else:
        tl.append((final, t + run))
    job.timeline = tl


def _fill_attrs(job: Job, rng: random.Random, year: int, final: str) -> None:
    """Recipe, client, share level, run mode and error of a seeded job."""
    spec = backends.BY_NAME[job.backend]
    family = FAMILIES[_below(rng, len(FAMILIES))]
    if family == "bell":
        nq = 2
    elif family == "rx-sweep":
        nq = 1
    else:
        nq = _between(rng, 2, min(5, spec.n_qubits))
    nexp = 1 if family in ("bell", "basis") and rng.random() < 0.6 else _between(rng, 1, 4)
    if family == "rx-sweep":
        nexp = _between(rng, 3, 8)
    shots = (1024, 1024, 2048, 4000, 4096, 8192)[_below(rng, 6)]
    variant = 0
    if final in ERRORS:
        variant = _below(rng, len(ERRORS[final]))
        job.error = ERRORS[final][variant]
    job.recipe = (family, nq, nexp, shots, final, variant)
    job.seed = rng.getrandbits(31)
    clients = CLIENTS[min(max(year, 2020), 2023)]
    job.client_info = clients[_below(rng, len(clients))]
    share = SHARE_LEVELS[_below(rng, len(SHARE_LEVELS))]
    # Clients since qiskit-ibmq-provider 0.15 (2021 on) send no shareLevel, and the real
    # server then leaves it out of the job's documents (realdata).
    job.share_level = None if share == "none" and year >= 2021 else share
    job.run_mode = "dedicated" if not spec.simulator and rng.random() < 0.05 else "fairshare"
    job.input_size = 600 + 180 * nexp * (nq + 2)


def _name_and_tags(rng: random.Random) -> tuple[str | None, list[str] | None]:
    """A name (or None) and tags (None, not [], for a job given none: its documents then
    carry no ``tags``, as the real server's do)."""
    r = rng.random()
    name = None if r < 0.3 else f"{NAME_BASES[_below(rng, len(NAME_BASES))]}-{_between(rng, 1, 400)}"
    ntags = (0, 0, 1, 1, 1, 2, 2, 3)[_below(rng, 8)]
    tags = sorted({TAG_VOCAB[_below(rng, len(TAG_VOCAB))] for _ in range(ntags)})
    return name, tags or None


def seed_history(n: int, seed: int, project: Project) -> list[Job]:
    """``n`` final jobs, sorted by (creation ms, id), creation ms unique."""
    rng = random.Random(f"jobarchive-emulator-history:{seed}")
    span = WINDOW_END - WINDOW_START
    jobs: list[Job] = []
    i = 0
    while i < n:
        start = WINDOW_START + _below(rng, span)
        names, cum = _backends_at(start)
        if n - i >= 3 and rng.random() < 0.02:     # a job set: consecutive jobs, one backend
            k = _between(rng, 3, min(12, n - i))
            backend = _pick(rng, names, cum)
            set_id = f"{rng.getrandbits(128):032x}"
            set_name = f"{NAME_BASES[_below(rng, len(NAME_BASES))]}-set"
            _, extra = _name_and_tags(rng)
            t = start
            for j in range(k):
                job = Job("", t, backend, project, iso=False)
                job.name = f"{set_name}_{j}_"
                job.tags = [f"ibmq_jobset_{set_id}", *(extra or [])]
                jobs.append(job)
                t += _between(rng, 300, 5_000)
            i += k
        else:
            job = Job("", start, _pick(rng, names, cum), project, iso=False)
            job.name, job.tags = _name_and_tags(rng)
            jobs.append(job)
            i += 1
    jobs.sort(key=lambda j: j.created)
    last = -1
    for job in jobs:
        if job.created <= last:
            job.created = last + 1
        last = job.created
        job.created_iso = fmt_ms(job.created)
        job.id = f"{job.created // 1000:08x}{rng.getrandbits(64):016x}"
        spec = backends.BY_NAME[job.backend]
        r = rng.random()
        final = _FINALS[bisect_right(_FINAL_CUM, r)] if r < 1.0 else "COMPLETED"
        year = 1970 + job.created // 31_556_952_000
        _fill_attrs(job, rng, year, final)
        _plan_timeline(job, rng, final, job.created, spec.simulator)
    return jobs


def seed_tied(n: int, seed: int, project: Project, at_ms: int) -> list[Job]:
    """``n`` final jobs all created in the same millisecond ``at_ms`` (a batch submitted at
    once, as a job set or a script can), sorted by id: pagination must not rely on
    creation dates being unique."""
    rng = random.Random(f"jobarchive-emulator-tied:{seed}")
    names, cum = _backends_at(at_ms)
    jobs = []
    for i in range(n):
        job = Job(f"{at_ms // 1000:08x}{rng.getrandbits(64):016x}", at_ms, _pick(rng, names, cum),
                  project)
        job.name, job.tags = f"batch-{i}", ["batch"]
        final = "COMPLETED"
        _fill_attrs(job, rng, 1970 + at_ms // 31_556_952_000, final)
        _plan_timeline(job, rng, final, at_ms, backends.BY_NAME[job.backend].simulator)
        jobs.append(job)
    jobs.sort(key=lambda j: j.id)
    return jobs


def seed_active(m: int, seed: int, project: Project, now_ms: int, after_ms: int) -> list[Job]:
    """``m`` jobs created just before ``now_ms`` that are not final yet and move on the clock."""
    rng = random.Random(f"jobarchive-emulator-active:{seed}")
    jobs = []
    t = max(now_ms - 120_000, after_ms + 1)
    for _ in range(m):
        t += _between(rng, 1, max(1, 120_000 // max(m, 1)))
        names = tuple(b.name for b in backends.ACTIVE)
        job = Job(f"{t // 1000:08x}{rng.getrandbits(64):016x}", t,
                  names[_below(rng, len(names))], project)
        job.name, job.tags = _name_and_tags(rng)
        r = rng.random()
        final = "COMPLETED" if r < 0.9 else ("ERROR_RUNNING_JOB" if r < 0.95 else "CANCELLED")
        _fill_attrs(job, rng, 2023, final)
        spec = backends.BY_NAME[job.backend]
        tl = [("CREATING", t)]
        s = t + _between(rng, 500, 5_000)
        for status, lo, hi in (("CREATED", 0, 0), ("VALIDATING", 500, 3_000),
                               ("VALIDATED", 500, 3_000), ("QUEUED", 100, 1_000)):
            s += _between(rng, lo, hi)
            tl.append((status, s))
        job.queue0 = _between(rng, 1, 30)
        s += _between(rng, 1_200_000, 4_800_000)  # 2-8 s real at time_scale=600
        if final == "CANCELLED":
            tl.append(("CANCELLED", s))
        else:
            tl.append(("RUNNING", s))
            s += _between(rng, 10_000, 120_000) if not spec.simulator else _between(rng, 1_000, 20_000)
            tl.append((final, s))
        job.timeline = tl
        jobs.append(job)
    return jobs


# ---------------------------------------------------------------------------------------------
# qobj and result from a recipe

_PI = math.pi


def _h(q: int, device: bool) -> list[dict[str, Any]]:
    if not device:
        return [{"name": "h", "qubits": [q]}]
    return [{"name": "rz", "qubits": [q], "params": [_PI / 2]}, {"name": "sx", "qubits": [q]},
            {"name": "rz", "qubits": [q], "params": [_PI / 2]}]


def _experiment(family: str, nq: int, k: int, nexp: int, secret: int, device: bool,
                trailing_gate: bool) -> tuple[dict[str, Any], list[float]]:
    """One experiment and its ideal outcome distribution (index = measured integer)."""
    ins: list[dict[str, Any]] = []
    probs = [0.0] * (1 << nq)
    if family in ("bell", "ghz"):
        ins += _h(0, device)
        ins += [{"name": "cx", "qubits": [q, q + 1]} for q in range(nq - 1)]
        probs[0] = probs[-1] = 0.5
    elif family == "superposition":
        for q in range(nq):
            ins += _h(q, device)
        probs = [1.0 / (1 << nq)] * (1 << nq)
    elif family == "basis":
        value = (secret + k) % (1 << nq)
        ins += [{"name": "x", "qubits": [q]} for q in range(nq) if value >> q & 1]
        probs[value] = 1.0
    else:  # rx-sweep on one qubit: H RZ(theta) H gives P(1) = sin^2(theta / 2)
        theta = _PI * k / max(nexp - 1, 1)
        ins += _h(0, device) + [{"name": "rz", "qubits": [0], "params": [theta]}] + _h(0, device)
        p1 = math.sin(theta / 2) ** 2
        probs = [1.0 - p1, p1]
    ins += [{"name": "measure", "qubits": [q], "memory": [q]} for q in range(nq)]
    if trailing_gate:
        ins.append({"name": "x", "qubits": [0]})
    name = f"{family}_{nq}q_{k}"
    header = {
        "qubit_labels": [["q", q] for q in range(nq)], "n_qubits": nq,
        "qreg_sizes": [["q", nq]], "clbit_labels": [["c", q] for q in range(nq)],
        "memory_slots": nq, "creg_sizes": [["c", nq]], "name": name,
        "global_phase": 0.0, "metadata": {},
    }
    exp = {"header": header, "config": {"n_qubits": nq, "memory_slots": nq},
           "instructions": ins}
    return exp, probs


def _qobj_id(job: Job) -> str:
    r = random.Random(job.seed)
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _experiments(job: Job) -> list[tuple[dict[str, Any], list[float]]]:
    family, nq, nexp, _shots, final, variant = job.recipe
    spec = backends.BY_NAME[job.backend]
    trailing = final == "ERROR_VALIDATING_JOB" and variant == 1
    return [_experiment(family, nq, k, nexp, job.seed, not spec.simulator, trailing and k == 0)
            for k in range(nexp)]


def qobj_for(job: Job, memory: bool = False) -> dict[str, Any] | None:
    """The qobj a seeded job carried (None when it never got one); ``memory``: it asked for
    every shot's outcome."""
    if job.recipe is None or job.final_status() == "ERROR_CREATING_JOB":
        return None
    family, nq, nexp, shots, final, variant = job.recipe
    spec = backends.BY_NAME[job.backend]
    if final == "ERROR_VALIDATING_JOB" and variant == 0:
        shots = 100_000 if not spec.simulator else 1_000_000
    exps = [e for e, _ in _experiments(job)]
    return {
        "qobj_id": _qobj_id(job),
        "schema_version": "1.3.0",
        "type": "QASM",
        "header": {"backend_name": spec.name, "backend_version": spec.version},
        "config": {"shots": shots, "memory": memory, "memory_slots": nq,
                   "n_qubits": spec.n_qubits, "init_qubits": True, "parameter_binds": []},
        "experiments": exps,
    }


def _noisy(probs: list[float], nq: int, flip: float) -> np.ndarray:
    """Apply independent readout bit flips to an outcome distribution."""
    p = np.asarray(probs, dtype=float)
    if flip <= 0:
        return p
    p = p.reshape((2,) * nq)
    m = np.array([[1 - flip, flip], [flip, 1 - flip]])
    for axis in range(nq):
        p = np.moveaxis(np.tensordot(m, np.moveaxis(p, axis, 0), axes=(1, 0)), 0, axis)
    p = p.reshape(-1)
    return p / p.sum()


def result_for(job: Job, memory: bool = False) -> dict[str, Any] | None:
    """The result a seeded job's download URL serves (partial for some failed jobs);
    ``memory``: with every shot's outcome (``data.memory``), a result of hundreds of KB."""
    if job.recipe is None:
        return None
    family, nq, nexp, shots, final, _variant = job.recipe
    if final not in ("COMPLETED", "ERROR_RUNNING_JOB") or job.final_status() != final:
        return None
    if final == "ERROR_RUNNING_JOB" and nexp < 2:
        return None
    spec = backends.BY_NAME[job.backend]
    rng = np.random.default_rng([job.seed, 7])
    flip = backends.readout_error(spec, job.created)
    results = []
    for k, (exp, probs) in enumerate(_experiments(job)):
        failed = final == "ERROR_RUNNING_JOB" and k == nexp - 1
        item: dict[str, Any] = {"shots": shots, "success": not failed,
                                "status": "ERROR: experiment did not run" if failed else "DONE",
                                "header": exp["header"]}
        if failed:
            item["data"] = {}
        else:
            p = _noisy(probs, nq, flip)
            # The index is the measured integer (clbit i is bit i of it), as the counts' keys.
            draws = rng.multinomial(shots, p)
            counts = {hex(int(idx)): int(draws[idx]) for idx in np.nonzero(draws)[0]}
            item["data"] = {"counts": dict(sorted(counts.items(), key=lambda kv: int(kv[0], 16)))}
            if memory:
                item["data"]["memory"] = [k for k, n in item["data"]["counts"].items()
                                          for _ in range(n)]
        item["meas_level"] = 2
        if spec.simulator:
            item["seed_simulator"] = (job.seed + k) % (2**31 - 1)
        item["time_taken"] = round(0.0005 + (job.seed % 997) / 1e5 + 0.001 * k, 6)
        results.append(item)
    end = job.end_ms()
    ok = final == "COMPLETED"
    return {
        "backend_name": spec.name,
        "backend_version": spec.version,
        "qobj_id": _qobj_id(job),
        "job_id": job.id,
        "success": ok,
        "status": "COMPLETED" if ok else "PARTIAL COMPLETED",
        "date": fmt_ms(end)[:-1] + "000Z",
        "header": {"backend_name": spec.name, "backend_version": spec.version},
        "results": results,
        "time_taken": round(sum(r["time_taken"] for r in results), 6),
    }
