"""A reproducibility audit of archived jobs.

Syncs an embedded emulator's job history into an archive, then checks what a paper's
reproducibility appendix needs: every result blob intact (SHA-256), every completed job
with its result, qobj, client version and backend recorded, and a sample of results
re-run on qiskit's BasicSimulator and compared by Hellinger fidelity. Finally it flips
one byte of a blob in a copy of the archive to show that the audit catches it.

    python examples/reproducibility_audit.py [--archive PATH] [--seed-jobs N] [--sample N]

``JOBARCHIVE_EXAMPLE_JOBS`` sets the default history size (the tests use a small one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from _args import jobs_count  # beside this script

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator


def completeness(audit: pd.DataFrame) -> pd.DataFrame:
    """Per backend, from the audit's rows: completed jobs and the share with their result,
    their qobj, and their provenance (backend and client version) recorded."""
    done = audit[audit["status"] == "DONE"]
    return done.groupby("backend_name").agg(
        done=("job_id", "size"),
        with_result=("has_result", "mean"),
        with_qobj=("has_qobj", "mean"),
        with_client_version=("client_version", lambda s: s.notna().mean()),
        with_provenance=("provenance", "mean"),
    )


def fraction(text: str) -> float:
    """--threshold: a fidelity, from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", help="archive directory (default: a temporary one)")
    parser.add_argument("--seed-jobs", type=jobs_count,
                        default=int(os.environ.get("JOBARCHIVE_EXAMPLE_JOBS", "1000")))
    parser.add_argument("--sample", type=jobs_count, default=20,
                        help="jobs to re-run on BasicSimulator")
    parser.add_argument("--threshold", type=fraction, default=0.95,
                        help="Hellinger fidelity below which a job is flagged")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 120)

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = Path(args.archive) if args.archive else tmp / "audit.jobarchive"
        emu = stack.enter_context(Emulator(seed_jobs=args.seed_jobs, seed=23))
        arc = stack.enter_context(Archive(path))
        print(arc.sync(jobarchive.connect(emu.url, emu.token), progress=False))
        df = arc.query()

        print("\n1. integrity: SHA-256 of every result blob")
        integrity = arc.audit()
        summary = integrity.attrs["summary"]
        print(f"   {summary['jobs']} jobs, {summary['blobs']} blobs, {summary['bad_blobs']} bad "
              f"blobs, {summary['orphans']} orphans: {summary['problems']} problems")

        print("\n2. completeness of completed jobs, per backend")
        print(completeness(integrity).to_string(float_format="{:.0%}".format))

        print(f"\n3. reproduce {args.sample} results on BasicSimulator (Hellinger fidelity)")
        audit = arc.audit(reproduce=True, sample=args.sample, threshold=args.threshold,
                          progress=False)
        rerun = audit[audit["fidelity"].notna()].merge(df[["job_id", "backend_name"]],
                                                        on="job_id", suffixes=("_audit", ""))
        fid = rerun["fidelity"]
        print(f"   fidelity: min {fid.min():.3f}, median {fid.median():.3f}, max {fid.max():.3f} "
              f"over {len(fid)} jobs; per backend:")
        by = rerun.groupby("backend_name")["fidelity"].agg(["size", "min", "median"]).round(3)
        print("   " + by.to_string().replace("\n", "\n   "))
        below = rerun[rerun["fidelity"] < args.threshold]
        simulated = below["backend_name"].str.contains("simulator")
        print(f"   below {args.threshold}: {len(below)} jobs, {int(simulated.sum())} of them on a "
              "simulator (device jobs differ by their readout noise; a simulator job should not)")
        flagged = rerun[rerun["flagged"].astype(bool)]
        print(f"   flagged by the audit: {len(flagged)} (simulator jobs below {args.threshold}, "
              f"device jobs below {audit.attrs['summary']['device_threshold']})")
        for row in flagged.head(10).itertuples(index=False):
            print(f"     {row.job_id} ({row.backend_name}): {row.problem}")

        print("\n4. tamper detection: flip one byte of a blob in a copy of the archive")
        copy = tmp / "tampered.jobarchive"
        shutil.copytree(path, copy)
        blob = sorted((copy / "blobs").rglob("*.parquet"))[0]
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(bytes(data))
        with Archive(copy) as tampered:
            found = tampered.audit()
        bad = found[~found["ok"].astype(bool)]
        print(f"   the audit flags {len(bad)} jobs stored in {blob.name}; first: "
              f"{bad['problem'].iloc[0] if len(bad) else '(none!)'}")
        if bad.empty:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
