"""Synthetic job records shared by the benchmarks (deterministic for a seed)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2021, 1, 1, tzinfo=UTC)
SPAN_S = 3 * 365 * 24 * 3600  # three years of history
TAG_POOL = [f"exp{i:02d}" for i in range(20)]
SHARE = ["none", "hub", "group", "project", "global"]
BACKENDS = ["ibmq_athens", "ibmq_lima", "ibmq_quito", "ibmq_qasm_simulator", "ibmq_manila"]
STATUSES = ["COMPLETED"] * 8 + ["ERROR_RUNNING_JOB", "CANCELLED"]


def records(n: int, seed: int = 0, with_results: bool = False, id_prefix: str = "j") -> list[dict]:
    """``n`` to_dict()-shaped records over 3 years, 5 share levels; tags: 1-2 of 20 ``expNN``,
    plus ``prod`` (50% of jobs), ``calib`` (30%) and ``rare`` (1%)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        when = START + timedelta(seconds=rng.randrange(SPAN_S), microseconds=rng.randrange(1000) * 1000)
        rec: dict[str, Any] = {
            "job_id": f"{id_prefix}{i:09d}",
            "creation_date": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "status": rng.choice(STATUSES),
            "backend_name": rng.choice(BACKENDS),
            "kind": "q-object-external-storage",
            "name": f"run-{i % 997}",
            "tags": rng.sample(TAG_POOL, rng.randint(1, 2)) + [
                t for t, p in (("prod", 0.5), ("calib", 0.3), ("rare", 0.01)) if rng.random() < p],
            "run_mode": "fairshare",
            "share_level": rng.choice(SHARE),
            "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"},
            "hub_info": {"hub": {"name": "ibm-q"}, "group": {"name": "open"}, "project": {"name": "main"}},
        }
        if with_results:
            rec["result"] = result_dict(rng, f"{id_prefix}{i:09d}")
        out.append(rec)
    return out


def result_dict(rng: random.Random, job_id: str, experiments: int = 4, qubits: int = 5) -> dict:
    """A qiskit Result dict as the server sends it (hex counts, 1024 shots)."""
    exps = []
    for e in range(experiments):
        counts: dict[str, int] = {}
        left = 1024
        for key in rng.sample(range(2 ** qubits), 12):
            c = rng.randint(0, left)
            counts[hex(key)] = c
            left -= c
        exps.append({"shots": 1024, "success": True, "meas_level": 2, "seed_simulator": rng.randrange(2 ** 31),
                     "header": {"name": f"circuit-{e}", "memory_slots": qubits,
                                "creg_sizes": [["c", qubits]], "n_qubits": qubits},
                     "data": {"counts": counts}, "status": "DONE", "time_taken": rng.random()})
    return {"backend_name": "ibmq_athens", "backend_version": "1.3.13", "qobj_id": f"q-{job_id}",
            "job_id": job_id, "success": True, "date": "2021-05-04T11:35:02.660124",
            "status": "COMPLETED", "header": {"backend_name": "ibmq_athens"}, "results": exps}


def median_time(fn: Callable[[], Any], reps: int, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``fn`` over ``reps`` runs (``setup`` runs untimed before each)."""
    times = []
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(contenders: dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]],
                reps: int) -> dict[str, float]:
    """Median wall time of each ``name: (fn, setup)``, run in turns (A B C A B C ...) so that
    load changes on a shared machine hit every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, (fn, setup) in contenders.items():
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}
