"""Histograms of 10,000 jobs with results: ``Archive`` (flat Parquet count rows) against one
JSON file per job (``json.dump(result.to_dict())`` per job, then ``json.load`` + a DataFrame),
which is what users do without an archive (issue 2).

Write: ``Archive.add_many`` of the jobs as to_dict() records (validation, index rows, one
Parquet file per batch, SHA-256, fsync, rename) against writing one JSON file per job from
the qiskit ``Result`` objects (``json.dump(result.to_dict())``, no fsync; also printed: the
same from the plain result dicts, and ``add_many`` of ``IBMQJob`` objects, which were
validated when built, as sync passes them); rate and bytes on disk.
Load into a long DataFrame (job_id, experiment, key, count): all jobs, 1,000 random ones,
one job; ``Archive.counts()`` against reading the JSON files. Medians of ``--reps`` runs,
the contenders run in turns.

    python bench/counts.py              # 10,000 jobs
    python bench/counts.py --quick      # 2,000 jobs
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from qiskit.result import Result

sys.path.insert(0, str(Path(__file__).parent))
from _synth import interleaved, records  # noqa: E402

from jobarchive import Archive, IBMQJob  # noqa: E402
from jobarchive.archive import PAYLOAD_BATCH  # noqa: E402
from jobarchive.record import normalize  # noqa: E402
from jobarchive.store.blobs import BlobStore  # noqa: E402


def write_json(folder: Path, recs: list[dict]) -> None:
    """One JSON file per job from the result dicts (a lower bar than to_dict(): no copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rec in recs:
        with open(folder / f"{rec['job_id']}.json", "w") as fh:
            json.dump(rec["result"], fh)


def write_json_results(folder: Path, pairs: list[tuple[str, Result]]) -> None:
    """What users do today with the ``Result`` that ``job.result()`` returned (issue 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    for job_id, result in pairs:
        with open(folder / f"{job_id}.json", "w") as fh:
            json.dump(result.to_dict(), fh)


def write_archive(path: Path, recs: list[dict]) -> None:
    with Archive(path) as arc:
        arc.add_many(recs)


def write_blobs_only(path: Path, recs: list[dict]) -> None:
    """The result store alone (a part of add_many, not a user path): Parquet files of
    2,000 results, SHA-256, fsync, rename; no validation, no index."""
    store = BlobStore(path)
    for i in range(0, len(recs), PAYLOAD_BATCH):
        store.write([(r["job_id"], None, r["result"]) for r in recs[i:i + PAYLOAD_BATCH]])


def load_json(folder: Path, selection: list[str]) -> pd.DataFrame:
    rows = []
    for job_id in selection:
        with open(folder / f"{job_id}.json") as fh:
            result = json.load(fh)
        for i, exp in enumerate(result["results"]):
            for key, count in exp["data"]["counts"].items():
                rows.append((job_id, i, key, count))
    return pd.DataFrame(rows, columns=["job_id", "experiment", "key", "count"])


def big_qobj_records(n: int, seed: int) -> list[dict]:
    """Failed jobs of 75 circuits of 200 gates each (about 1.4 MB of qobj JSON, no counts):
    randomized-benchmarking-sized payloads."""
    rng = random.Random(seed)
    return [{"job_id": f"big-{i:05d}", "creation_date": "2021-05-04T11:35:02Z", "status": "ERROR_RUNNING_JOB",
             "kind": "q-object-external-storage", "backend_name": "ibmq_athens",
             "qobj": {"qobj_id": f"q{i}", "type": "QASM", "schema_version": "1.3.0", "config": {"shots": 1024},
                      "header": {}, "experiments": [
                          {"header": {"name": f"rb-{i}-{e}", "memory_slots": 2}, "config": {},
                           "instructions": [{"name": "u3", "qubits": [rng.randrange(5)],
                                             "params": [rng.random(), rng.random(), rng.random()]}
                                            for _ in range(200)]} for e in range(75)]}}
            for i in range(n)]


def read_one_by_one(arc_path: Path, folder: Path, picks: list[str], reps: int) -> dict[str, float]:
    """``Archive.record()`` of each job in turn (a fresh Archive each repetition: a cold
    cache) against ``json.load`` of each job's file."""
    def archive() -> None:
        with Archive(arc_path) as arc:
            for job_id in picks:
                arc.record(job_id)

    def files() -> None:
        for job_id in picks:
            with open(folder / f"{job_id}.json") as fh:
                json.load(fh)

    return interleaved({"archive": (archive, None), "json": (files, None)}, reps)


def one_big_job(root: Path, reps: int) -> None:
    """Reading one job among 100 whose qobjs are 1.4 MB each: ``Archive.record`` against
    ``json.load`` of its own file (one job's payload must be parsed either way)."""
    recs = big_qobj_records(100, seed=5)
    with Archive(root / "big") as arc:
        arc.add_many(recs)
    folder = root / "big-json"
    folder.mkdir()
    for rec in recs:
        with open(folder / f"{rec['job_id']}.json", "w") as fh:
            json.dump(rec["qobj"], fh)
    picks = random.Random(4).sample([r["job_id"] for r in recs], 5)
    t = read_one_by_one(root / "big", folder, picks, reps)
    print(f"  one job of 1.4 MB qobj  Archive.record() {t['archive'] / len(picks) * 1e3:6.1f} ms   "
          f"JSON file per job {t['json'] / len(picks) * 1e3:6.1f} ms   {t['json'] / t['archive']:5.1f}x")


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="2,000 jobs instead of 10,000")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.jobs or (2_000 if args.quick else 10_000)
    recs = records(n, seed=11, with_results=True, id_prefix="c-")
    ids = [r["job_id"] for r in recs]
    root = Path(tempfile.mkdtemp(prefix="bench-counts-"))
    arc_path, json_path = root / "arc", root / "json"
    try:
        def fresh(path: Path):
            return lambda: shutil.rmtree(path, ignore_errors=True)

        results = [(r["job_id"], Result.from_dict(r["result"])) for r in recs]  # untimed: held already
        jobs = [IBMQJob.from_dict(r) for r in recs]  # untimed, like the Results
        normalized = [normalize(r) for r in recs]
        # "jobs" first: the archive that stays in arc_path for the reads is the one of records.
        t = interleaved({"jobs": (lambda: write_archive(arc_path, jobs), fresh(arc_path)),
                         "archive": (lambda: write_archive(arc_path, recs), fresh(arc_path)),
                         "json": (lambda: write_json_results(json_path, results), fresh(json_path)),
                         "json_dict": (lambda: write_json(json_path, recs), fresh(json_path)),
                         "blobs": (lambda: write_blobs_only(root / "blobs-only", normalized),
                                   fresh(root / "blobs-only"))}, args.reps)
        blob_bytes = size_of(arc_path / "blobs")
        arc_bytes = size_of(arc_path)
        json_bytes = size_of(json_path)
        print(f"{n:,} jobs with results ({sum(len(e['data']['counts']) for r in recs for e in r['result']['results']):,} "
              f"count rows), medians of {args.reps}\n")
        print("write")
        print(f"  Archive.add_many   {n / t['archive']:8,.0f} jobs/s  {t['archive'] * 1e3:7.0f} ms   "
              f"blobs {blob_bytes / n:6,.0f} B/job, with index.db {arc_bytes / n:6,.0f} B/job")
        print(f"  (from IBMQJob      {n / t['jobs']:8,.0f} jobs/s  {t['jobs'] * 1e3:7.0f} ms   "
              f"validated when built, {t['json'] / t['jobs']:.2f}x the JSON files)")
        print(f"  JSON file per job  {n / t['json']:8,.0f} jobs/s  {t['json'] * 1e3:7.0f} ms   "
              f"files {json_bytes / n:6,.0f} B/job   json.dump(result.to_dict())")
        print(f"  (from plain dicts  {n / t['json_dict']:8,.0f} jobs/s  {t['json_dict'] * 1e3:7.0f} ms   "
              "json.dump(result_dict), no to_dict())")
        print(f"  of which the result store alone (BlobStore.write) {n / t['blobs']:8,.0f} jobs/s "
              f"{t['blobs'] * 1e3:7.0f} ms   {t['json'] / t['blobs']:.2f}x the JSON files")
        print(f"  speed {t['json'] / t['archive']:.2f}x ({t['json_dict'] / t['archive']:.2f}x against plain "
              f"dicts); bytes: blobs {blob_bytes / json_bytes:.0%}, "
              f"whole archive {arc_bytes / json_bytes:.0%} of the JSON files")

        some = random.Random(3).sample(ids, min(1000, n))
        one = [ids[n // 2]]
        print("\nload counts into a DataFrame")
        with Archive(arc_path) as arc:
            for selection in (one, some):
                expect = load_json(json_path, selection)
                got = arc.counts(selection)
                assert (list(got[["job_id", "experiment", "key", "count"]].itertuples(index=False, name=None))
                        == list(expect.itertuples(index=False, name=None))), "archive and JSON differ"
            for name, selection in (("all", None), (f"{len(some):,} random", some), ("one job", one)):
                t = interleaved({"archive": (lambda s=selection: arc.counts(s), None),
                                 "json": (lambda s=selection: load_json(json_path, s or ids), None)},
                                args.reps)
                print(f"  {name:12s} Archive.counts() {t['archive'] * 1e3:8.1f} ms   JSON file per job "
                      f"{t['json'] * 1e3:8.1f} ms   {t['json'] / t['archive']:5.1f}x")
            print("\nread results one job at a time (a loop over get())")
            t = read_one_by_one(arc_path, json_path, some, args.reps)
            print(f"  {len(some):,} random    Archive.record() {t['archive'] * 1e3:8.1f} ms   JSON file per job "
                  f"{t['json'] * 1e3:8.1f} ms   {t['json'] / t['archive']:5.1f}x")
        one_big_job(root, args.reps)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - t0:.0f} s)")
