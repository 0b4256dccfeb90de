"""Ingest: ``Archive.add_many`` against raw SQLite and against the naive per-job way.

Measured in one run, medians of ``--reps`` repetitions (this machine is noisy):

1. add_many of N index-only jobs (validation, row building, tags; one transaction per
   batch, ``synchronous=FULL``) vs raw ``sqlite3.executemany`` of the same,
   precomputed rows (jobs + job_tags) in ONE transaction into the same schema;
2. re-adding the same N jobs (updates) vs a raw ``INSERT ... ON CONFLICT DO UPDATE``;
3. M jobs with results (Parquet blobs, SHA-256, fsync) vs the naive loop users write: one
   sqlite-utils insert + commit per job and one Parquet file per job.

    python bench/ingest.py --quick          # N=10,000, M=1,000, 3 reps (about a minute)
    python bench/ingest.py                  # N=100,000, M=10,000
    python bench/ingest.py --jobs 1000000   # the 1M check
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlite_utils

sys.path.insert(0, str(Path(__file__).parent))
from _synth import interleaved, median_time, records  # noqa: E402

from jobarchive import Archive  # noqa: E402
from jobarchive.archive import DEFAULT_BATCH  # noqa: E402
from jobarchive.record import normalize  # noqa: E402
from jobarchive.store.blobs import dumps  # noqa: E402
from jobarchive.store.index import _ROW_COLUMNS, _UPSERT_SQL, row_from_record  # noqa: E402

INSERT_JOBS = f"INSERT INTO jobs ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' * len(_ROW_COLUMNS))})"
INSERT_TAGS = "INSERT OR IGNORE INTO job_tags (tag, job_id) VALUES (?, ?)"


class Scratch:
    """Fresh archive directories under one temp dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        self.n = 0

    def fresh(self) -> Path:
        self.n += 1
        path = self.root / f"a{self.n}"
        Archive(path).close()  # same schema and indexes for every contender
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def raw_insert(path: Path, rows: list[list], tag_rows: list[tuple[str, str]], sql: str) -> None:
    conn = sqlite3.connect(path / "index.db", isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN")
    conn.executemany(sql, rows)
    conn.executemany(INSERT_TAGS, tag_rows)
    conn.execute("COMMIT")
    conn.close()


def naive_per_job(path: Path, recs: list[dict]) -> None:
    """What users do without jobarchive: a row + commit and a Parquet file per job."""
    db = sqlite_utils.Database(path / "naive.db")
    (path / "results").mkdir(exist_ok=True)
    for rec in recs:
        row = {k: (dumps(v) if isinstance(v, dict | list) else v) for k, v in rec.items() if k != "result"}
        db["jobs"].insert(row, pk="job_id", replace=True)
        db.conn.commit()
        pq.write_table(pa.table({"result": [dumps(rec["result"])]}), path / "results" / f"{rec['job_id']}.parquet")
    db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=10,000, M=1,000")
    parser.add_argument("--jobs", type=int, default=None, help="N, index-only jobs (default 100,000)")
    parser.add_argument("--results", type=int, default=None, help="M, jobs with results (default 10,000)")
    parser.add_argument("--naive", type=int, default=1000, help="jobs the slow naive loop runs on")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.jobs or (10_000 if args.quick else 100_000)
    m = args.results if args.results is not None else (1_000 if args.quick else 10_000)
    reps = args.reps
    print(f"N={n:,} index-only jobs, M={m:,} jobs with results, medians of {reps}\n")

    scratch = Scratch()
    try:
        recs = records(n, seed=1)
        stamp = time.time_ns() // 1000
        built = [row_from_record(normalize(r), stamp) for r in recs]
        rows = [b.values for b in built]
        tag_rows = [(t, b.job_id) for b in built for t in b.tags]
        lines = []

        target: list[Path] = []

        def setup() -> None:
            target[:] = [scratch.fresh()]

        def add_many(batch_size: int) -> None:
            with Archive(target[0]) as arc:
                arc.add_many(recs, batch_size=batch_size)

        t = interleaved({
            "add": (lambda: add_many(DEFAULT_BATCH), setup),
            "add_one": (lambda: add_many(n), setup),
            "raw": (lambda: raw_insert(target[0], rows, tag_rows, INSERT_JOBS), setup),
        }, reps)
        print(f"{'index rows + tags':44s} {'jobs/s':>12s} {'x baseline':>11s}", flush=True)
        lines.append((f"add_many, default ({DEFAULT_BATCH:,}/txn)", n / t["add"], t["raw"] / t["add"]))
        lines.append(("add_many, one transaction", n / t["add_one"], t["raw"] / t["add_one"]))
        lines.append(("raw executemany, one txn (baseline)", n / t["raw"], 1.0))
        show(lines)

        # Re-adding the same jobs: every row is an update.
        full = scratch.fresh()
        with Archive(full) as arc:
            arc.add_many(recs)

        def readd() -> None:
            with Archive(full) as arc:
                arc.add_many(recs)

        t = interleaved({"readd": (readd, None),
                         "upsert": (lambda: raw_insert(full, rows, tag_rows, _UPSERT_SQL), None)}, reps)
        lines.append(("re-add (update) via add_many", n / t["readd"], t["upsert"] / t["readd"]))
        lines.append(("raw ON CONFLICT DO UPDATE (baseline)", n / t["upsert"], 1.0))
        show(lines[3:])


        if m:
            with_results = records(m, seed=2, with_results=True, id_prefix="r")
            t_res = median_time(lambda: add_many_results(target[0], with_results), reps, setup)
            size = sum(p.stat().st_size for p in (target[0] / "blobs").iterdir())
            k = min(args.naive, m)
            t_naive = median_time(lambda: naive_per_job(target[0], with_results[:k]), reps, setup)
            rate, naive_rate = m / t_res, k / t_naive
            print(f"\n{'jobs with results (4 experiments each)':44s} {'jobs/s':>12s} {'x naive':>11s}")
            print(f"{'add_many (Parquet batches, SHA-256, fsync)':44s} {rate:12,.0f} {rate / naive_rate:10.1f}x")
            print(f"{'naive: row+commit and a Parquet per job':44s} {naive_rate:12,.0f} {1.0:10.1f}x"
                  f"   (on {k:,} jobs)")
            naive_size = sum(p.stat().st_size for p in (target[0] / "results").iterdir())
            print(f"result bytes per job: {size / m:,.0f} (archive blobs) vs {naive_size / k:,.0f} (naive)")
    finally:
        scratch.cleanup()


def show(lines: list[tuple[str, float, float]]) -> None:
    for name, rate, ratio in lines:
        print(f"{name:44s} {rate:12,.0f} {ratio:10.2f}x", flush=True)


def add_many_results(path: Path, recs: list[dict]) -> None:
    with Archive(path) as arc:
        arc.add_many(recs)


if __name__ == "__main__":
    main()
