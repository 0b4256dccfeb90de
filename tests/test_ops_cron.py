"""Unattended runs: `jobarchive` from cron, which mails every line a job prints.

The CLI runs as cron runs it: a child process with cron's few variables (no proxy, no
TERM, LANG unset), its working directory $HOME and stdout sent to /dev/null, against the
emulator on 127.0.0.1 (port 0) and real archives in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobarchive.emulator import Emulator


def cron(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``jobarchive ARGS >/dev/null`` as a crontab line runs it; stderr is what cron mails."""
    base = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HOME": str(home),
            "SHELL": "/bin/sh", "LOGNAME": "lab", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "jobarchive.cli", *args], cwd=home,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_a_cron_sync_with_nothing_wrong_prints_nothing_on_stderr(home):
    """`*/10 * * * * jobarchive sync >/dev/null`: the URL is the archive's last sync's (set up
    once by hand with --url), the token in the crontab's environment. Every run wrote
    "server: URL (this archive's last sync; --url chooses another)" on stderr, so cron
    mailed the group every 10 minutes about a sync that went well; the line now goes with
    the sync's report on stdout, which the crontab sends where it wants."""
    with Emulator(seed_jobs=12, seed_active=4, seed=5) as emu:
        first = cron(home, "--archive", "lab.jobarchive", "sync", "--url", emu.url,
                     "--token", emu.token)
        assert first.returncode == 0, first.stderr
        emu.advance(600)
        run = cron(home, "sync", JOBARCHIVE_PATH="~/lab.jobarchive", JOBARCHIVE_TOKEN=emu.token)
        url = emu.url
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    # Still said where the token went, before the report.
    assert run.stdout.splitlines()[0].startswith(f"server: {url} (this archive's last sync")
    assert run.stdout.splitlines()[1].startswith("sync: 0 discovered")


def test_retag_remote_still_names_the_server_on_stderr(home):
    """retag's stdout is its plan or outcome (CSV, JSON for scripts): the server line stays
    on stderr there."""
    with Emulator(seed_jobs=6, seed=5) as emu:
        assert cron(home, "--archive", "lab.jobarchive", "sync", "--url", emu.url,
                    "--token", emu.token).returncode == 0
        job_id = emu.job_docs()[0]["id"]
        run = cron(home, "--archive", "lab.jobarchive", "retag", job_id, "--add", "cron",
                   "--remote", "--format", "json", JOBARCHIVE_TOKEN=emu.token)
        assert run.returncode == 0, run.stderr
        assert "cron" in emu.job_doc(job_id)["tags"]
        assert f"server: {emu.url}" in run.stderr
    assert run.stdout.lstrip().startswith("[")


def test_a_sync_stopped_by_a_failing_server_says_it_in_one_clean_sentence(home):
    with Emulator(seed_jobs=30, seed_active=20, seed=3) as emu:
        assert cron(home, "--archive", "lab.jobarchive", "sync", "--url", emu.url,
                    "--token", emu.token).returncode == 0
        emu.advance(3600)  # the running jobs finish: their payloads are to be fetched
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": [
            "job_result_url", "storage_result", "job_qobj_url", "storage_qobj"]})
        run = cron(home, "--archive", "lab.jobarchive", "sync", "--max-retries", "0",
                   JOBARCHIVE_TOKEN=emu.token)
    assert run.returncode == 1, run.stderr
    error = run.stderr.splitlines()[-1]
    assert error.startswith("Error: Sync stopped early"), run.stderr
    assert ".." not in error, error


def test_quiet_cron_jobs_print_nothing_when_all_is_well_and_the_trouble_when_not(home):
    """The nightly audit, the sync, and the dashboard feeds (`ls -o`, `export --format csv`)
    wrote their summaries ('audit: jobs=..., problems=0', 'wrote N rows to FILE', the CSV
    bitstring hint, the retag tally) on stderr, the stream errors go to: cron mailed every
    run, and the only way to stop it, 2>/dev/null, also dropped the errors. `-q` leaves out
    what only says that things went well."""
    with Emulator(seed_jobs=20, seed_active=3, seed=5) as emu:
        assert cron(home, "--archive", "lab.jobarchive", "sync", "--url", emu.url,
                    "--token", emu.token).returncode == 0
        env = {"JOBARCHIVE_PATH": str(home / "lab.jobarchive"), "JOBARCHIVE_TOKEN": emu.token}
        runs = {
            "sync": cron(home, "-q", "sync", **env),
            "audit": cron(home, "-q", "audit", **env),
            "retag": cron(home, "-q", "retag", "--status", "DONE", "--add", "seen", **env),
            "ls": cron(home, "-q", "ls", "--format", "csv", "-o", "jobs.csv", **env),
            "export": cron(home, "-q", "export", "dash", "--format", "csv", **env),
            "backup": cron(home, "-q", "backup", "nightly", **env),
            "report": cron(home, "-q", "report", "lab.html", **env),
            "empty": cron(home, "-q", "ls", "--status", "ERROR", "--since", "2999-01-01", **env),
        }
    for name, run in runs.items():
        assert (run.returncode, run.stdout, run.stderr) == (0, "", ""), name
    assert (home / "jobs.csv").stat().st_size and (home / "dash" / "counts.csv").stat().st_size
    assert (home / "nightly" / "index.db").is_file() and (home / "lab.html").is_file()
    done = [line for line in (home / "jobs.csv").read_text().splitlines() if ",DONE," in line]
    assert done and all("seen" in line for line in done)
    # A blob gone: the audit says so on stderr, with the fix, and exits 3.
    for blob in (home / "lab.jobarchive" / "blobs").iterdir():
        blob.unlink()
    run = cron(home, "-q", "audit", **env)
    assert run.returncode == 3, run.stderr
    assert "missing or damaged blob" in run.stderr and "jobarchive sync" in run.stderr
    assert "problems=" in run.stderr


def test_quiet_after_the_command_says_where_it_goes(home):
    run = cron(home, "--archive", "lab.jobarchive", "audit", "-q")
    assert run.returncode == 2
    assert "-q goes before the command: jobarchive -q audit" in run.stderr, run.stderr
