"""A bulk retag campaign: plan with a dry run, apply on the server, verify.

Syncs an embedded emulator's job history into an archive, selects every completed job of
one backend in the history's first year, and retags it: add a campaign tag and drop the
most common old tag. The dry run prints the plan and writes nothing; the real run pushes
each change to the server first (bounded concurrency, retries, resumable), then records it
locally with its history. A second run finds nothing left to do. Last, the campaign is
undone (exactly) and redone.

    python examples/bulk_retag.py [--archive PATH] [--seed-jobs N] [--tag TAG]

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
from jobarchive.retag import undo


def changed(plan: pd.DataFrame) -> int:
    """Rows of a retag plan/outcome that change anything."""
    return int(sum(bool(a) or bool(r) for a, r in zip(plan["added"], plan["removed"], strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", help="archive directory (default: a temporary one)")
    parser.add_argument("--seed-jobs", type=jobs_count,
                        default=int(os.environ.get("JOBARCHIVE_EXAMPLE_JOBS", "1500")))
    parser.add_argument("--tag", default="campaign-2021", help="tag the campaign adds")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_colwidth", 40)

    with contextlib.ExitStack() as stack:
        path = Path(args.archive) if args.archive else Path(
            stack.enter_context(tempfile.TemporaryDirectory())) / "retag.jobarchive"
        emu = stack.enter_context(Emulator(seed_jobs=args.seed_jobs, seed=31))
        arc = stack.enter_context(Archive(path))
        provider = jobarchive.connect(emu.url, emu.token)
        # full=True re-reads the tags of final jobs too: a retag computes the new tags from
        # the archived ones, which must be the server's (a kept --archive may be stale).
        print(arc.sync(provider, full=True, progress=False))

        df = arc.query(status="DONE")
        backend = df["backend_name"].value_counts().index[0]
        start = df["creation_date"].min()
        end = start + pd.Timedelta(days=365)
        selection = arc.query(status="DONE", backend_name=backend,
                              start_datetime=start.isoformat(), end_datetime=end.isoformat())
        old_tags = selection["tags"].explode().dropna()
        old_tags = old_tags[old_tags != args.tag]  # never "add X, remove X"
        drop = old_tags.value_counts().index[0] if len(old_tags) else None
        print(f"\ncampaign: {len(selection)} completed jobs on {backend} created "
              f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}; add {args.tag!r}"
              + (f", remove {drop!r}" if drop else ""))
        removal = [drop] if drop else None

        plan = arc.retag(selection, additional_tags=[args.tag], removal_tags=removal,
                         provider=provider, dry_run=True, progress=False)
        print(f"\n1. dry run: {changed(plan)} of {len(plan)} jobs would change; nothing is written")
        print(plan.head(8).to_string(index=False))
        untouched = sum(args.tag in (emu.job_doc(j).get("tags") or []) for j in selection["job_id"])
        print(f"   server jobs carrying {args.tag!r} after the dry run: {untouched}")

        done = arc.retag(selection, additional_tags=[args.tag], removal_tags=removal,
                         provider=provider, progress=False)
        print(f"\n2. applied on the server, then in the archive: {changed(done)} jobs changed")
        mismatched = [j for j in selection["job_id"]
                      if sorted(emu.job_doc(j).get("tags") or []) != sorted(arc.get(j).tags())]
        on_server = sum(args.tag in (emu.job_doc(j).get("tags") or []) for j in selection["job_id"])
        print(f"   server jobs carrying {args.tag!r}: {on_server}; server and archive tags differ "
              f"on {len(mismatched)} jobs")
        first = selection["job_id"].iloc[0]
        print(f"   arc.history({first!r}):")
        print(arc.history(first).tail(3).to_string(index=False))

        again = arc.retag(selection, additional_tags=[args.tag], removal_tags=removal,
                          provider=provider, dry_run=True, progress=False)
        print(f"\n3. planning the same campaign again: {changed(again)} jobs would change")

        # A campaign that went wrong is undone exactly: `undo` removes the tags the last run
        # added and adds back those it removed (a tag a job had before is kept, which a
        # plain removal_tags=[tag] would not do); undoing again redoes it.
        undone = undo(arc, provider=provider, progress=False)
        after_undo = sum(args.tag in (emu.job_doc(j).get("tags") or []) for j in selection["job_id"])
        print(f"\n4. undo (jobarchive.retag.undo, `jobarchive retag --undo`): {changed(undone)} jobs "
              f"reverted; server jobs carrying {args.tag!r}: {after_undo}")
        redone = undo(arc, provider=provider, progress=False)
        after_redo = sum(args.tag in (emu.job_doc(j).get("tags") or []) for j in selection["job_id"])
        print(f"   undo again (a redo): {changed(redone)} jobs; server jobs carrying {args.tag!r}: "
              f"{after_redo}")
        if mismatched or changed(again) or untouched or on_server != len(selection) \
                or after_undo or after_redo != len(selection):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
