"""Historical analysis of an account's jobs with pandas.

Syncs the job history of an embedded emulator (the IBM Quantum job API, seeded with a
synthetic multi-year history) into an archive, then answers, offline:

1. the success rate per backend per month,
2. the median queue time per backend per month (from each job's time_per_step),
3. how the counts of one circuit family evolved over time.

    python examples/historical_analysis.py [--archive PATH] [--seed-jobs N]

``JOBARCHIVE_EXAMPLE_JOBS`` sets the default history size (the tests use a small one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
from _args import jobs_count  # beside this script

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator

FINAL = ["DONE", "ERROR", "CANCELLED"]


def success_rate(df: pd.DataFrame) -> pd.DataFrame:
    """Share of final jobs that completed, per month (rows) and backend (columns)."""
    final = df[df["status"].isin(FINAL)]
    month = final["creation_date"].dt.tz_localize(None).dt.to_period("M").rename("month")
    return (final["status"].eq("DONE").groupby([month, final["backend_name"]]).mean()
            .unstack("backend_name"))


def details(arc: Archive, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From each completed job's stored record: its queue time (QUEUED -> RUNNING in
    time_per_step) and the circuit name of each experiment (the qobj's experiment headers)."""
    waits, circuits = [], []
    for job_id in df.loc[df["status"] == "DONE", "job_id"]:
        record = arc.record(job_id)
        steps = record.get("time_per_step") or {}
        if steps.get("QUEUED") and steps.get("RUNNING"):
            queued, running = pd.Timestamp(steps["QUEUED"]), pd.Timestamp(steps["RUNNING"])
            waits.append((job_id, (running - queued).total_seconds()))
        for index, exp in enumerate((record.get("qobj") or {}).get("experiments") or []):
            circuits.append((job_id, index, (exp.get("header") or {}).get("name") or ""))
    return (pd.DataFrame(waits, columns=["job_id", "queue_seconds"]),
            pd.DataFrame(circuits, columns=["job_id", "experiment", "circuit"]))


def family_over_time(arc: Archive, df: pd.DataFrame, circuits: pd.DataFrame,
                     family: str) -> pd.DataFrame:
    """One circuit family on real devices: per quarter, the runs and the mean probability of
    its two main outcomes and of everything else (the devices' noise), from archived counts."""
    runs = circuits[circuits["circuit"].str.split("_").str[0] == family]
    devices = df[~df["backend_name"].str.contains("simulator")]
    runs = runs[runs["job_id"].isin(devices["job_id"])]
    if runs.empty:
        return pd.DataFrame(columns=["runs"])
    counts = arc.counts(runs["job_id"].unique()).merge(runs, on=["job_id", "experiment"])
    counts["p"] = counts["count"] / counts.groupby(["job_id", "experiment"])["count"].transform("sum")
    counts = counts.merge(df[["job_id", "creation_date"]], on="job_id")
    counts["quarter"] = counts["creation_date"].dt.tz_localize(None).dt.to_period("Q")
    main = counts.groupby("bitstring")["p"].sum().nlargest(2).index
    counts["outcome"] = counts["bitstring"].where(counts["bitstring"].isin(main), "other")
    per_run = counts.pivot_table(index=["quarter", "job_id", "experiment"], columns="outcome",
                                 values="p", aggfunc="sum", fill_value=0.0)
    table = per_run.groupby("quarter").mean()
    table.insert(0, "runs", per_run.groupby("quarter").size())
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", help="archive directory (default: a temporary one)")
    parser.add_argument("--seed-jobs", type=jobs_count,
                        default=int(os.environ.get("JOBARCHIVE_EXAMPLE_JOBS", "1500")))
    parser.add_argument("--family", default="bell",
                        help="circuit family (experiment name prefix) for part 3")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 12)

    with contextlib.ExitStack() as stack:
        path = Path(args.archive) if args.archive else Path(
            stack.enter_context(tempfile.TemporaryDirectory())) / "history.jobarchive"
        emu = stack.enter_context(Emulator(seed_jobs=args.seed_jobs, seed=11))
        arc = stack.enter_context(Archive(path))
        report = arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        print(f"{report}\narchive: {path} ({len(arc)} jobs)\n")

        df = arc.query(descending=False)
        first, last = df["creation_date"].min(), df["creation_date"].max()
        print(f"history: {first:%Y-%m-%d} .. {last:%Y-%m-%d}, "
              f"{df['backend_name'].nunique()} backends, statuses "
              f"{df['status'].value_counts().to_dict()}\n")

        rates = success_rate(df)
        print("1. success rate per backend per month (last 12 months):")
        print(rates.tail(12).map(lambda v: "" if pd.isna(v) else f"{v:.0%}").to_string())
        print("   overall:", {b: f"{r:.1%}" for b, r in df[df["status"].isin(FINAL)]
              .groupby("backend_name")["status"].apply(lambda s: s.eq("DONE").mean()).items()})

        waits, circuits = details(arc, df)
        waits = df.merge(waits, on="job_id")
        waits["month"] = waits["creation_date"].dt.tz_localize(None).dt.to_period("M")
        median = waits.pivot_table(index="month", columns="backend_name", values="queue_seconds",
                                   aggfunc="median")
        print("\n2. median queue time in minutes per backend per month (last 12 months):")
        print((median.tail(12) / 60).round(1).to_string(na_rep=""))
        print("   overall median minutes:",
              (waits.groupby("backend_name")["queue_seconds"].median() / 60).round(1).to_dict())

        families = circuits["circuit"].str.split("_").str[0]
        family = args.family if (families == args.family).any() else families.mode().iloc[0]
        print(f"\n3. circuit family {family!r} on devices: mean outcome probabilities per quarter "
              f"({(families == family).sum()} runs in all, simulator included)")
        print(family_over_time(arc, df, circuits, family).round(3).to_string())
        print("   ('other' is the probability of outcomes the ideal circuit never gives: noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
