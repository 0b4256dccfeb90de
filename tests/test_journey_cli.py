"""The command line as a new user meets it: pipes, Ctrl-C, a busy archive, the demo's output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import run  # the CLI runner of the CLI tests

import jobarchive
from jobarchive import Archive
from jobarchive.emulator import Emulator

JOBARCHIVE = [sys.executable, "-m", "jobarchive.cli"]


def _records(n: int = 12) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"job_id": f"job{i:04d}", "creation_date": f"2021-03-1{i % 10}T10:00:00Z",
                    "status": "COMPLETED", "backend_name": "ibmq_athens", "tags": ["a"],
                    "result": {"results": [{"shots": 10, "header": {"memory_slots": 1},
                                            "data": {"counts": {"0x0": 4, "0x1": 6}}}]},
                    "qobj": {"qobj_id": f"q{i}", "experiments": [{}]}})
    return out


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many(_records())
    return path


def test_export_into_a_closed_pipe_still_writes_every_file(arc_path, tmp_path):
    """`jobarchive export out/ | head -1`: the reader going away must not cut the export
    short (the counts file was never written when the first line could not be printed)."""
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is printed: every write is EPIPE
    try:
        proc = subprocess.run([*JOBARCHIVE, "--archive", str(arc_path), "export", str(out)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr
    assert (out / "jobs.parquet").exists()
    assert (out / "counts.parquet").exists()


def test_a_busy_archive_names_the_cli_option_to_wait(arc_path):
    with Archive(arc_path) as arc, arc.lock():
        result = run("retag", "--all", "--add", "x", "--no-progress", archive=arc_path)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert "--wait" in lines[0] and "lock_timeout" not in lines[0]


def test_remote_retag_with_nothing_to_change_says_where_it_looked(tmp_path):
    with Emulator(seed_jobs=12, seed=2) as emu:
        path = tmp_path / "r"
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
        args = ["retag", "--all", "--add", "x", "--remote", "--url", emu.url,
                "--token", emu.token, "--no-progress"]
        first = run(*args, archive=path)
        assert first.exit_code == 0 and "server and archive" in first.stderr, first.stderr
        again = run(*args, archive=path)
        assert again.exit_code == 0, again.stderr
        assert "0 updated" in again.stderr and "server and archive" in again.stderr, again.stderr


def test_ctrl_c_in_a_remote_retag_says_how_to_finish_and_a_rerun_does(tmp_path, interrupt_after):
    """Ctrl-C mid-campaign: part of the changes reached the server. The user is told, in
    one line, to run the same command again; doing so makes server and archive agree."""
    with Emulator(seed_jobs=150, seed=4, latency=0.01) as emu:
        path = tmp_path / "c"
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            ids = list(arc.query()["job_id"])
        argv = [*JOBARCHIVE, "--archive", str(path), "retag", "--all", "--add", "ctrl-c",
                "--remote", "--url", emu.url, "--token", emu.token, "--workers", "1",
                "--no-progress"]
        emu.reset_stats()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        _, (_, err) = interrupt_after(proc, emu, job_update=10)
        assert proc.returncode == -signal.SIGINT, err  # as an uncaught Ctrl-C: $? is 130
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:"), err
        assert "interrupted" in lines[0].lower() and "again" in lines[0], lines[0]
        assert "Traceback" not in err
        rerun = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        with Archive(path) as arc:
            for job_id in ids:
                assert "ctrl-c" in arc.get(job_id).tags()
                assert sorted(emu.job_doc(job_id).get("tags") or []) == sorted(arc.get(job_id).tags())


def test_demo_shows_no_progress_bars_when_not_on_a_terminal(tmp_path):
    """As every other command: bars only on a terminal (a log of `jobarchive demo > log
    2>&1` or CI output gets no carriage-return noise)."""
    result = run("demo", "--quick", "--seed-jobs", "40", archive=tmp_path / "d.jobarchive")
    assert result.exit_code == 0, result.output
    assert "\r" not in result.output and "job/s" not in result.output


def test_report_to_a_new_directory_path_writes_report_html_inside(arc_path, tmp_path):
    target = tmp_path / "reports"
    result = run("report", str(target) + os.sep, archive=arc_path)
    assert result.exit_code == 0, result.output
    assert (target / "report.html").is_file()


def test_report_reproduce_can_show_its_progress(arc_path, tmp_path):
    """`report --reproduce` re-runs every completed job (minutes on a real archive): like
    audit it shows a bar on a terminal (--progress forces it here), and none with
    --no-progress."""
    shown = run("report", str(tmp_path / "r.html"), "--reproduce", "--sample", "3",
                "--progress", archive=arc_path)
    assert shown.exit_code == 0, shown.output
    assert "reproduce" in shown.stderr and "job" in shown.stderr, shown.stderr
    quiet = run("report", str(tmp_path / "q.html"), "--reproduce", "--no-progress",
                archive=arc_path)
    assert quiet.exit_code == 0, quiet.output
    assert "reproduce" not in quiet.stderr


def test_the_readme_demo_command_runs_again(tmp_path, monkeypatch):
    """`jobarchive demo` (the README's first command) run a second time replaces the demo
    archive it made itself; an archive it did not make is still refused."""
    monkeypatch.chdir(tmp_path)
    first = run("demo", "--quick", "--seed-jobs", "30")
    assert first.exit_code == 0, first.output
    again = run("demo", "--quick", "--seed-jobs", "30")
    assert again.exit_code == 0, again.output
    with Archive(tmp_path / "demo.jobarchive") as arc:
        assert len(arc.query(job_tags=["jobarchive-demo"])) == 3  # not 6: a fresh archive
    theirs = tmp_path / "elsewhere"
    theirs.mkdir()
    monkeypatch.chdir(theirs)
    with Archive(theirs / "demo.jobarchive") as arc:
        arc.add({"job_id": "mine", "creation_date": "2021-01-01T00:00:00Z",
                 "status": "COMPLETED"})
    refused = run("demo", "--quick", "--seed-jobs", "30")
    assert refused.exit_code == 1 and "--fresh" in refused.stderr, refused.output
    with Archive(theirs / "demo.jobarchive") as arc:
        assert "mine" in arc


def test_table_escapes_control_characters_in_tags(tmp_path):
    """A tag holding a newline or a terminal escape must not break the table's lines or
    reach the terminal raw (names were escaped already; tags were not)."""
    path = tmp_path / "t"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-01-01T00:00:00Z",
                 "status": "COMPLETED", "tags": ["a\nb", "\x1b[2J"]})
        arc.add({"job_id": "j2", "creation_date": "2021-01-02T00:00:00Z",
                 "status": "COMPLETED", "tags": ["x"]})
    result = run("ls", archive=path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines  # a header and one line a job
    assert "\x1b" not in result.stdout
    assert "a\\nb" in lines[2] and "\\x1b[2J" in lines[2]
    plan = run("retag", "j1", "--add", "y", "--dry-run", archive=path)
    assert plan.exit_code == 0 and "\x1b" not in plan.stdout and len(plan.stdout.splitlines()) == 2


@pytest.mark.parametrize("dry", [True, False])
def test_retag_selecting_nothing_still_prints_machine_readable_output(arc_path, dry):
    """`ls --format json` prints [] when nothing matches; retag printed nothing at all, which
    a script reading its JSON or CSV cannot parse."""
    import io
    import json

    import pandas as pd

    extra = ["--dry-run"] if dry else []
    as_json = run("retag", "--tag", "nosuch", "--add", "x", "--format", "json", *extra,
                  archive=arc_path)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == []
    as_csv = run("retag", "--tag", "nosuch", "--add", "x", "--format", "csv", *extra,
                 archive=arc_path)
    assert as_csv.exit_code == 0, as_csv.output
    frame = pd.read_csv(io.StringIO(as_csv.stdout))
    assert frame.empty and "job_id" in frame.columns and "new_tags" in frame.columns
    assert "no jobs selected" in as_csv.stderr


def test_archive_option_after_the_command_names_the_fix(arc_path):
    """`jobarchive ls --archive X` is what a new user types first: the usage error says
    where the option goes."""
    result = run("ls", "--archive", str(arc_path))
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error:") and "jobarchive --archive PATH ls" in last, last


def test_table_dates_keep_four_digit_years(tmp_path):
    path = tmp_path / "y"
    with Archive(path) as arc:
        arc.add({"job_id": "old", "creation_date": "0001-01-01T00:00:00Z",
                 "status": "COMPLETED"})
    result = run("ls", archive=path)
    assert result.exit_code == 0, result.output
    assert "0001-01-01 00:00:00" in result.stdout, result.stdout


def test_cli_remote_retag_keeps_a_tag_added_on_the_server(tmp_path):
    """`retag --add X --remote` after a colleague tagged a job on the server: X is added to
    what the server holds; their tag is not deleted by the archive's older list."""
    with Emulator(seed_jobs=8, seed=3) as emu:
        path = tmp_path / "r"
        with Archive(path) as arc:
            arc.sync(jobarchive.connect(emu.url, emu.token), progress=False)
            job_id = arc.query()["job_id"][0]
        emu.update_job(job_id, tags=[*(emu.job_doc(job_id).get("tags") or []), "colleague"])
        result = run("retag", job_id, "--add", "mine", "--remote", "--url", emu.url,
                     "--token", emu.token, "--no-progress", archive=path)
        assert result.exit_code == 0, result.output
        assert {"colleague", "mine"} <= set(emu.job_doc(job_id).get("tags") or [])
        with Archive(path) as arc:
            assert sorted(arc.get(job_id).tags()) == sorted(emu.job_doc(job_id).get("tags") or [])


def test_cli_remote_dry_run_counts_changes_only_the_server_needs(tmp_path):
    """The archive already has tag X, the server lost it: a --remote run will PUT, so the
    dry run must list the job and count it (it said '0 would change')."""
    with Emulator(seed_jobs=8, seed=3) as emu:
        path = tmp_path / "r"
        with Archive(path) as arc:
            provider = jobarchive.connect(emu.url, emu.token)
            arc.sync(provider, progress=False)
            job_id = arc.query()["job_id"][0]
            arc.retag([job_id], additional_tags=["x"], provider=provider, progress=False)
        emu.update_job(job_id, tags=[t for t in (emu.job_doc(job_id).get("tags") or []) if t != "x"])
        args = ["retag", job_id, "--add", "x", "--remote", "--url", emu.url, "--token",
                emu.token, "--no-progress"]
        dry = run(*args, "--dry-run", archive=path)
        assert dry.exit_code == 0, dry.output
        assert "1 would change" in dry.stderr and job_id in dry.stdout, dry.output
        real = run(*args, archive=path)
        assert real.exit_code == 0 and "1 updated" in real.stderr, real.output
        assert "x" in (emu.job_doc(job_id).get("tags") or [])


def test_emulator_on_a_busy_port_names_the_port_and_the_fix():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("emulator", "--port", str(port), "--seed-jobs", "1")
    assert result.exit_code == 1, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert str(port) in line and "--port 0" in line, line


def test_show_does_not_invent_a_client_version(tmp_path):
    """A recorded job whose client_info has a null version (IBMQClient.jl) showed
    'IBMQClient.jl=None', as if 'None' were its version."""
    path = tmp_path / "c"
    with Archive(path) as arc:
        arc.add({"job_id": "j", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
                 "client_info": {"name": "IBMQClient.jl", "version": None}})
        arc.add({"job_id": "k", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
                 "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider",
                                 "version": "0.16.1,0.11.1"}})
    shown = run("show", "j", archive=path)
    line = next(x for x in shown.stdout.splitlines() if x.startswith("client"))
    assert "None" not in line and "IBMQClient.jl" in line, line
    shown = run("show", "k", archive=path)
    line = next(x for x in shown.stdout.splitlines() if x.startswith("client"))
    assert "qiskit-terra=0.16.1" in line and "qiskit-ibmq-provider=0.11.1" in line, line
