"""Sync vs the naive refresh loop, against the emulator with per-request latency.

Scenario (issue 4): an archive of ``--jobs`` jobs, ``--active`` of them not final, kept
current by periodic syncs. Between two syncs the server's clock moves on by ``--gap``
emulated seconds, so some active jobs move a step and some finish. The same server state is
then brought into two identical copies of the archive:

* baseline, the naive loop: ``for job in non_final: job.refresh()``, then ``result()`` for
  each job that is now DONE, then ``add()``;
* ``Archive.sync(provider)``.

The emulator's clock is frozen while measuring, so both see the same server. Each gap is
measured ``--repeat`` times on fresh copies; medians and ratios are printed.

    python bench/sync.py                # 10,000 jobs, 2,000 active, 20 ms latency
    python bench/sync.py --quick        # 2,000 jobs, 400 active, 5 ms latency
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import jobarchive
from jobarchive import Archive, IBMQJob
from jobarchive.emulator import Emulator
from jobarchive.store.index import JobFilter

FROZEN = 1e-9  # emulated seconds per real second: the server state holds still


def naive(path: Path, provider) -> int:
    """The loop a user writes without jobarchive's sync; returns the jobs it refreshed."""
    client = provider.api_client
    with Archive(path) as arc:
        ids = [r[0] for r in arc.select_rows(JobFilter(final=False), ("job_id",))]
        for job_id in ids:
            job = IBMQJob._from_record(arc.record(job_id), None, client)
            job.refresh()
            if job.to_dict()["status"] == "COMPLETED":  # the refreshed status, no extra request
                job.result()
            arc.add(job)
    return len(ids)


def measure(fn, emu: Emulator, client) -> tuple[float, int, int]:
    emu.reset_stats()
    before = client.request_count
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return seconds, client.request_count - before, emu.stats()["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--gap", type=float, action="append",
                        help="emulated seconds between syncs (repeatable; default 60, 1800, 3600)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.active, args.latency, args.repeat = 2_000, 400, 0.005, 1
    gaps = args.gap or [60.0, 1800.0, 3600.0]

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    with Emulator(seed_jobs=args.jobs - args.active, seed_active=args.active, seed=7,
                  time_scale=FROZEN) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        client = provider.api_client
        seed = work / "seed.jobarchive"
        t0 = time.perf_counter()
        with Archive(seed) as arc:
            first = arc.sync(provider, progress=False, workers=args.workers)
        print(f"setup: first sync of {args.jobs} jobs (no latency): {first.requests} requests "
              f"in {time.perf_counter() - t0:.1f} s; {first.pending} not final")
        emu.set_latency(args.latency)
        print(f"latency {args.latency * 1000:.0f} ms per request, {args.workers} sync workers, "
              f"median of {args.repeat}")
        print(f"{'gap':>7} {'changed':>8} {'finished':>8} | {'naive s':>8} {'naive req':>9} | "
              f"{'sync s':>7} {'sync req':>8} | {'req ratio':>9} {'time ratio':>10}")
        for gap in gaps:
            before = {d["id"]: d["status"] for d in emu.job_docs()}
            emu.advance(gap)
            after = {d["id"]: d["status"] for d in emu.job_docs()}
            changed = sum(before[j] != after[j] for j in before)
            finished = sum(before[j] != after[j] and after[j] == "COMPLETED" for j in before)
            naive_runs, sync_runs = [], []
            for i in range(args.repeat):
                a, b = work / f"naive-{gap}-{i}", work / f"sync-{gap}-{i}"
                shutil.copytree(seed, a)
                shutil.copytree(seed, b)
                naive_runs.append(measure(lambda a=a: naive(a, provider), emu, client))

                def run_sync(b=b) -> None:
                    with Archive(b) as arc:
                        arc.sync(provider, progress=False, workers=args.workers)

                sync_runs.append(measure(run_sync, emu, client))
                shutil.rmtree(a)
                shutil.rmtree(b)
            n_s = statistics.median(r[0] for r in naive_runs)
            n_r = statistics.median(r[2] for r in naive_runs)
            s_s = statistics.median(r[0] for r in sync_runs)
            s_r = statistics.median(r[2] for r in sync_runs)
            print(f"{gap:>6.0f}s {changed:>8} {finished:>8} | {n_s:>8.2f} {n_r:>9.0f} | "
                  f"{s_s:>7.2f} {s_r:>8.0f} | {n_r / max(s_r, 1):>8.1f}x {n_s / s_s:>9.1f}x")
            with Archive(seed) as arc:  # the next gap starts from the state after this one
                arc.sync(provider, progress=False, workers=args.workers)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
