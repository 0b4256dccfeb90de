"""The guided tour behind ``jobarchive demo``: every feature, against the embedded emulator.

Starts an emulator with a seeded job history, syncs it into a fresh archive, submits new
circuits and follows them to completion, queries with pandas, retags a selection on the
server (dry run first), audits (reproducing a sample of results on BasicSimulator) and
writes the HTML report. Library code: the CLI only calls ``run_demo``.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import ArchiveError

DEFAULT_ARCHIVE = "demo.jobarchive"
DEFAULT_SEED_JOBS = 2000
QUICK_SEED_JOBS = 300
DEMO_TAG = "jobarchive-demo"
TIME_SCALE = 600.0  # emulated seconds per real second
CAMPAIGN_TAG = "needs-review"
# Written into the archives the demo makes, so that a re-run may replace its own.
MARKER = ".made-by-jobarchive-demo"


def _prepare(path: Path, fresh: bool, replace_own: bool = False) -> None:
    """Refuse to mix the demo into an existing archive; --fresh replaces only an archive,
    ``replace_own`` only one this demo made (the default path of ``jobarchive demo``)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise ArchiveError(f"{path} is a file; pass another --archive for the demo")
    if not any(path.iterdir()):
        return
    if not (path / "index.db").exists():
        raise ArchiveError(f"{path} is a non-empty directory that is not an archive; "
                           "the demo will not touch it. Pass another --archive.")
    if not (fresh or (replace_own and (path / MARKER).is_file())):
        raise ArchiveError(f"{path} already holds an archive; pass --fresh to replace it "
                           "or --archive for another path")
    shutil.rmtree(path)


def bell_and_ghz() -> list[Any]:
    """The demo's new circuits: a Bell pair and 3- and 4-qubit GHZ states."""
    from qiskit import QuantumCircuit

    circuits = []
    for n in (2, 3, 4):
        qc = QuantumCircuit(n, n, name="bell" if n == 2 else f"ghz{n}")
        qc.h(0)
        for q in range(n - 1):
            qc.cx(q, q + 1)
        qc.measure(range(n), range(n))
        circuits.append(qc)
    return circuits


def _pick_backend(provider: Any) -> Any:
    backends = provider.backends()
    if not backends:
        raise ArchiveError("the emulator offers no backend")
    simulators = [b for b in backends if "simulator" in b.name()]
    return (simulators or backends)[0]


def _section(echo: Callable[[str], Any], title: str) -> None:
    echo("")
    echo(f"== {title}")


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in str(text).splitlines())


def run_demo(
    archive_path: str | Path = DEFAULT_ARCHIVE,
    *,
    seed_jobs: int | None = None,
    seed_active: int | None = None,
    quick: bool = False,
    fresh: bool = False,
    report_path: str | Path | None = None,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
    seed: int = 7,
    replace_own: bool = False,
    command: str = "jobarchive",
) -> dict[str, Any]:
    """Run the tour; returns what it made (paths, job ids, counts, seconds).

    An existing archive at ``archive_path`` is refused unless ``fresh``, or unless
    ``replace_own`` and an earlier demo made it (so the README's command runs again).
    ``command``: how the closing hints spell the CLI (``.venv/bin/jobarchive`` when that is
    how it was started and the PATH does not have it).
    """

    import jobarchive
    from jobarchive import Archive
    from jobarchive.emulator import Emulator
    from jobarchive.qobj import qobj_from_circuits

    started = time.monotonic()
    path = Path(archive_path)
    _prepare(path, fresh, replace_own)
    report_file = Path(report_path) if report_path else path.with_name(
        path.name.removesuffix(".jobarchive") + "-report.html")
    n_jobs = seed_jobs if seed_jobs is not None else (QUICK_SEED_JOBS if quick else DEFAULT_SEED_JOBS)
    n_active = seed_active if seed_active is not None else (5 if quick else 12)
    out: dict[str, Any] = {"archive": str(path), "report": str(report_file)}

    with Emulator(seed_jobs=n_jobs, seed_active=n_active, seed=seed, time_scale=TIME_SCALE) as emu, \
            Archive(path) as arc:
        (path / MARKER).write_text("made by `jobarchive demo`; a re-run replaces it\n")
        _section(echo, f"Emulator of the IBM Quantum job API at {emu.url}")
        echo(f"   seeded with {n_jobs} historical jobs and {n_active} still running")
        # Why new jobs show creation dates hours ahead of the wall clock (and of the
        # archive's own event times): the emulated clock is sped up for the tour.
        echo(f"   its clock runs {TIME_SCALE:g}x real time, so jobs created now are dated "
             "ahead of the wall clock")
        provider = jobarchive.connect(emu.url, emu.token)

        _section(echo, f"Sync into {path}")
        report = arc.sync(provider, progress=progress)
        echo(_indent(report))
        out["synced"] = len(arc)

        _section(echo, "Submit new circuits (Bell, GHZ-3, GHZ-4) and follow them to completion")
        backend = _pick_backend(provider)
        circuits = bell_and_ghz()
        submitted = []
        for qc in circuits:
            qobj = qobj_from_circuits([qc], shots=1024, seed_simulator=seed)
            job = backend.run(qobj, job_name=f"demo-{qc.name}", job_tags=[DEMO_TAG, qc.name])
            submitted.append(job.job_id())
            echo(f"   submitted {job.job_id()} ({qc.name}) to {backend.name()}")
        report = arc.sync(provider, follow=True, poll_interval=0.25, progress=progress,
                          max_passes=400)
        echo(_indent(report))
        out["submitted"] = submitted

        _section(echo, "Queries (pandas)")
        df = arc.query()
        echo(f"   arc.query(): {len(df)} jobs, {df['has_result'].sum()} with results")
        by_backend = (df.assign(year=df["creation_date"].dt.year)
                      .pivot_table(index="backend_name", columns="status", values="job_id",
                                   aggfunc="count", fill_value=0))
        echo("   jobs per backend and status:")
        echo(_indent(by_backend.to_string()))
        final = df[df["status"].isin(["DONE", "ERROR", "CANCELLED"])]
        rate = (final.assign(year=final["creation_date"].dt.year)
                .groupby("year")["status"].apply(lambda s: (s == "DONE").mean())
                .rename("success rate"))
        echo("   success rate per year:")
        echo(_indent(rate.map("{:.1%}".format).to_string()))
        ours = arc.query(job_tags=[DEMO_TAG])
        echo(f"   arc.query(job_tags=[{DEMO_TAG!r}]): {len(ours)} jobs, statuses "
             f"{sorted(set(ours['status']))}")
        counts = arc.counts(ours)
        top = (counts.sort_values("count", ascending=False).groupby("job_id").head(2)
               .merge(ours[["job_id", "name"]], on="job_id")[["name", "bitstring", "count"]])
        echo("   most frequent outcomes of the new jobs (arc.counts):")
        echo(_indent(top.to_string(index=False)))

        _section(echo, f"Retag on the server: add {CAMPAIGN_TAG!r} to failed jobs of one backend")
        failed = df[df["status"] == "ERROR"]
        target = failed["backend_name"].mode().iloc[0] if len(failed) else None
        selection = arc.query(status="ERROR", backend_name=target, limit=25) if target else df.head(0)
        plan = arc.retag(selection, additional_tags=[CAMPAIGN_TAG], provider=provider,
                         dry_run=True, progress=False)
        echo(f"   dry run on {len(selection)} ERROR jobs of {target}: nothing written; the plan:")
        echo(_indent(plan[["job_id", "old_tags", "added"]].head(5).to_string(index=False)))
        done = arc.retag(selection, additional_tags=[CAMPAIGN_TAG], provider=provider,
                         progress=progress)
        on_server = sum(CAMPAIGN_TAG in (emu.job_doc(j).get("tags") or [])
                        for j in selection["job_id"])
        echo(f"   applied: {len(done)} rows; the server now shows the tag on {on_server} jobs, "
             f"the archive on {len(arc.query(job_tags=[CAMPAIGN_TAG]))}")
        if len(selection):
            hist = arc.history(selection["job_id"].iloc[0])
            echo("   arc.history() of the first one:")
            echo(_indent(hist.tail(3).to_string(index=False)))
        out["retagged"] = int(on_server)

        _section(echo, "Audit: SHA-256 of every blob; re-run a sample on BasicSimulator")
        audit = arc.audit(reproduce=True, sample=8 if quick else 20, seed=seed,
                          progress=progress)
        echo(_indent(_audit_summary(audit, df)))
        out["audit_problems"] = int((~audit["ok"].astype(bool)).sum())

        _section(echo, "HTML report")
        written = arc.report(report_file, audit=audit, title="jobarchive demo")
        echo(f"   {written}")
        out["report"] = str(written)

    seconds = time.monotonic() - started
    out["seconds"] = seconds
    _section(echo, f"Done in {seconds:.1f} s")
    echo(f"   archive: {path.resolve()}  ({out['synced']} jobs after the first sync)")
    echo(f"   report:  {Path(out['report']).resolve()}")
    # Typed into a shell as printed: a path with a space or a quote must stay one word.
    where, export = shlex.quote(str(path)), shlex.quote(
        f"{path.name.removesuffix('.jobarchive')}-export/")
    echo(f"   try:     {command} --archive {where} ls --tag {DEMO_TAG}")
    echo(f"            {command} --archive {where} show {submitted[0]}")
    echo(f"            {command} --archive {where} export {export}")
    return out


def _audit_summary(frame: Any, jobs: Any) -> str:
    summary = frame.attrs.get("summary") or {}
    keys = ("jobs", "blobs", "bad_blobs", "orphans", "incomplete", "no_provenance", "reproduced",
            "flagged")
    lines = [", ".join(f"{k}={summary[k]}" for k in keys if k in summary) or f"jobs={len(frame)}"]
    if "fidelity" in frame.columns:
        rerun = frame[frame["fidelity"].notna()]
        if "backend_name" not in rerun.columns:
            rerun = rerun.merge(jobs[["job_id", "backend_name"]], on="job_id")
        if len(rerun):
            lines.append(f"reproduced {len(rerun)} jobs on BasicSimulator; Hellinger fidelity "
                         "to the stored counts, per backend:")
            by = rerun.groupby("backend_name")["fidelity"].agg(["size", "min", "median"])
            lines += ["  " + line for line in by.round(3).to_string().splitlines()]
            lines.append(f"the re-run is ideal: a device job differs by its noise (flagged only "
                         f"below {summary.get('device_threshold')}), a simulator job should "
                         f"match (flagged below {summary.get('threshold')})")
            flagged = frame[frame["flagged"].astype(bool)]
            lines.append(f"flagged: {len(flagged)}")
            lines += [f"  {r.job_id}: {r.problem}" for r in flagged.head(5).itertuples(index=False)]
    broken = frame[~frame["ok"].astype(bool)]
    if "fidelity" in broken.columns:
        broken = broken[broken["fidelity"].isna()]
    lines.append(f"storage problems: {len(broken)}")
    lines += [f"  {r.job_id}: {r.problem}" for r in broken.head(5).itertuples(index=False)]
    return "\n".join(lines)
