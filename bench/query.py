"""Queries: ``Archive.query`` (filters pushed into SQL) against the best hand-written SQLite
query over the same file and against loading the index into pandas and filtering there.
(Reading counts is benchmarked by ``bench/counts.py``.)

Queries (each returns about 1% of the jobs): tags OR + date range + share level, tags AND +
date range + share level, and one tag alone. The hand-written baseline is the fastest of four
formulations (correlated EXISTS, IN-subquery, the same with ``+job_id`` so that the
date/share index drives, JOIN + DISTINCT), returning plain tuples; the
pandas baseline loads ``jobs`` and ``job_tags`` with ``read_sql`` and filters in memory.
Medians of ``--reps`` runs; query() and the SQL formulations run in turns, pandas after them.

    python bench/query.py --quick           # 100,000 jobs (builds in about a minute)
    python bench/query.py                   # 1,000,000 jobs
    python bench/query.py --keep /tmp/1m    # keep (or reuse) the built archive
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _synth import START, interleaved, median_time, records  # noqa: E402

from jobarchive import Archive  # noqa: E402
from jobarchive.query import build_filter  # noqa: E402
from jobarchive.store.index import QUERY_COLUMNS  # noqa: E402

COLS = ", ".join(QUERY_COLUMNS)
ORDER = "ORDER BY creation_us DESC, job_id DESC"


def us(dt) -> int:
    return int(dt.timestamp() * 1_000_000)


def build(path: Path, n: int, with_results: int) -> None:
    with Archive(path) as arc:
        if len(arc) >= n:
            return
        t0 = time.perf_counter()
        step = 100_000
        for start in range(0, n, step):
            chunk = records(min(step, n - start), seed=start, id_prefix=f"q{start // step:03d}-")
            arc.add_many(chunk, batch_size=20_000)
        if with_results:
            arc.add_many(records(with_results, seed=7, with_results=True, id_prefix="res-"), batch_size=2000)
        arc.index.analyze()
        print(f"built {len(arc):,} jobs in {time.perf_counter() - t0:.0f} s")


def hand_written(conn: sqlite3.Connection, tags: list[str], all_tags: bool, lo: int | None,
                 hi: int | None, share: str | None) -> dict[str, callable]:
    """Alternative formulations of one query; the caller keeps the fastest."""
    where, params = [], []
    if share is not None:
        where.append("share_level = ?")
        params.append(share)
    if lo is not None:
        where.append("creation_us BETWEEN ? AND ?")
        params += [lo, hi]
    marks = ", ".join("?" * len(tags))
    base = " AND ".join(where) or "1"
    if all_tags:
        exists = " AND ".join("EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = jobs.job_id AND t.tag = ?)"
                              for _ in tags)
        insub = " AND ".join("job_id IN (SELECT job_id FROM job_tags WHERE tag = ?)" for _ in tags)
        join = (f"SELECT {', '.join('j.' + c for c in QUERY_COLUMNS)} FROM jobs j JOIN "
                f"(SELECT job_id FROM job_tags WHERE tag IN ({marks}) GROUP BY job_id HAVING COUNT(*) = ?) t "
                f"USING (job_id) WHERE {base.replace('share_level', 'j.share_level').replace('creation_us B', 'j.creation_us B')} "
                "ORDER BY j.creation_us DESC, j.job_id DESC")
        join_params = [*tags, len(tags), *params]
        tag_params = list(tags)
    else:
        exists = f"EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = jobs.job_id AND t.tag IN ({marks}))"
        insub = f"job_id IN (SELECT job_id FROM job_tags WHERE tag IN ({marks}))"
        join = (f"SELECT DISTINCT {', '.join('j.' + c for c in QUERY_COLUMNS)} FROM job_tags t "
                f"JOIN jobs j ON j.job_id = t.job_id WHERE t.tag IN ({marks}) AND "
                f"{base.replace('share_level', 'j.share_level').replace('creation_us B', 'j.creation_us B')} "
                "ORDER BY j.creation_us DESC, j.job_id DESC")
        join_params = [*tags, *params]
        tag_params = list(tags)
    plus_in = insub.replace("job_id IN", "+job_id IN")
    return {
        "EXISTS": lambda: conn.execute(f"SELECT {COLS} FROM jobs WHERE {base} AND {exists} {ORDER}",
                                       params + tag_params).fetchall(),
        "IN-subquery": lambda: conn.execute(f"SELECT {COLS} FROM jobs WHERE {base} AND {insub} {ORDER}",
                                            params + tag_params).fetchall(),
        "+IN": lambda: conn.execute(f"SELECT {COLS} FROM jobs WHERE {base} AND {plus_in} {ORDER}",
                                    params + tag_params).fetchall(),
        "JOIN": lambda: conn.execute(join, join_params).fetchall(),
    }


def pandas_path(path: Path, tags: list[str], all_tags: bool, lo, hi, share) -> pd.DataFrame:
    """Load the index into pandas, then filter there (what a user does with a plain dump)."""
    conn = sqlite3.connect(path / "index.db")
    jobs = pd.read_sql(f"SELECT {COLS} FROM jobs", conn)
    job_tags = pd.read_sql("SELECT tag, job_id FROM job_tags", conn)
    conn.close()
    mask = pd.Series(True, index=jobs.index)
    if share is not None:
        mask &= jobs["share_level"] == share
    if lo is not None:
        mask &= jobs["creation_us"].between(lo, hi)
    hits = job_tags[job_tags["tag"].isin(tags)]
    if all_tags:
        per_job = hits.groupby("job_id")["tag"].nunique()
        ids = per_job.index[per_job == len(set(tags))]
    else:
        ids = hits["job_id"].unique()
    mask &= jobs["job_id"].isin(ids)
    return jobs[mask].sort_values(["creation_us", "job_id"], ascending=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 jobs instead of 1,000,000")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--results", type=int, default=None, help="jobs with results added to the archive")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="build the archive here and keep it")
    args = parser.parse_args(argv)
    n = args.jobs or (100_000 if args.quick else 1_000_000)
    m = args.results if args.results is not None else (2_000 if args.quick else 10_000)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-query-"))
    path = root / f"q{n}.jobarchive"
    try:
        build(path, n, m)
        arc = Archive(path)
        conn = sqlite3.connect(path / "index.db")
        total = len(arc)
        lo, hi = START + timedelta(days=365), START + timedelta(days=730)  # a third of the span
        cases = {  # each about 1% of the jobs
            "tags OR + date + share": (dict(job_tags=["exp01", "exp02"], start_datetime=lo,
                                            end_datetime=hi, share_level="hub"), False),
            "tags AND + date + share": (dict(job_tags=["prod", "calib"], job_tags_operator="AND",
                                             start_datetime=lo, end_datetime=hi,
                                             share_level="project"), True),
            "one tag only": (dict(job_tags=["rare"]), False),
        }
        print(f"\n{total:,} jobs, medians of {args.reps}\n")
        print(f"{'query':26s} {'rows':>7s} {'query()':>9s} {'best SQL':>9s} {'(which)':>12s} "
              f"{'pandas':>8s} {'vs SQL':>7s} {'vs pandas':>10s}")
        for name, (kwargs, all_tags) in cases.items():
            flt = build_filter(**kwargs)
            plan = arc.index.explain(flt)
            frame = arc.query(**kwargs)
            alts = hand_written(conn, kwargs["job_tags"], all_tags,
                                flt.start_us, flt.end_us, kwargs.get("share_level"))
            for alt_name, alt in alts.items():
                assert [r[0] for r in alt()] == list(frame["job_id"]), alt_name
            contenders = {"query": (lambda kw=kwargs: arc.query(**kw), None)}
            contenders.update({alt: (fn, None) for alt, fn in alts.items()})
            t = interleaved(contenders, args.reps)
            # On its own: loading the whole index evicts caches, which would charge whichever
            # contender ran next.
            t["pandas"] = median_time(lambda kw=kwargs, a=all_tags, f=flt: pandas_path(
                path, kw["job_tags"], a, f.start_us, f.end_us, kw.get("share_level")), args.reps)
            best = min(alts, key=lambda a: t[a])
            print(f"{name:26s} {len(frame):7,d} {t['query'] * 1e3:7.1f}ms {t[best] * 1e3:7.1f}ms "
                  f"{best:>12s} {t['pandas'] * 1e3:6.0f}ms {t['query'] / t[best]:6.2f}x "
                  f"{t['pandas'] / t['query']:9.1f}x")
            print(f"{'':26s} hand-written: " + ", ".join(f"{a} {t[a] * 1e3:.1f}ms" for a in alts))
            print(f"{'':26s} plan: {' | '.join(plan)}")
        arc.close()
        conn.close()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
