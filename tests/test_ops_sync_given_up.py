"""A cron sync that gives a job up: the one run that needs a human, and it said nothing.

Real emulator on 127.0.0.1 (results served once, as some servers did), a real archive in
tmp_path, the CLI through CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

import jobarchive
from jobarchive import Archive
from jobarchive.cli import EXIT_PROBLEMS, cli
from jobarchive.emulator import Emulator


def test_the_sync_that_gives_a_result_up_says_so_on_stderr_and_exits_3(tmp_path, empty_home):
    """Another client read a DONE job's result before the archive did. Four cron syncs
    said on stderr 'failed JOB: ... (the server holds no result for this job: n of 5 syncs
    before it is given up)' and exited 3; the fifth, which gave the result up for good (the
    job archived without it), exited 0 with nothing on stderr and never printed why: the
    CLI printed report.failed only, and the job moved from failed to given_up. With stdout
    sent to /dev/null, as cron jobs do, the mails stopped as if the job had been fixed."""
    path = str(tmp_path / "lab.jobarchive")
    with Emulator(seed_jobs=8, seed=3, consume_results=True) as emu:
        done = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        jobarchive.connect(emu.url, emu.token, max_retries=0).retrieve_job(done).result()
        runs = [CliRunner().invoke(cli, ["--archive", path, "sync", "--url", emu.url,
                                         "--token", emu.token, "--max-retries", "0"])
                for _ in range(6)]
    for n, run in enumerate(runs[:4], 1):
        assert run.exit_code == EXIT_PROBLEMS, run.output
        assert f"failed {done}:" in run.stderr and f"{n} of 5 syncs" in run.stderr
    gave_up = runs[4]
    assert gave_up.exit_code == EXIT_PROBLEMS, gave_up.output
    assert f"given up {done}: given up after 5 syncs" in gave_up.stderr, gave_up.stderr
    assert "jobarchive sync --full" in gave_up.stderr
    assert (runs[5].exit_code, runs[5].stderr) == (0, "")  # said once
    with Archive(path) as arc:
        assert arc.record(done)["result"] is None


def test_the_report_line_of_a_given_up_result_does_not_call_it_unlisted(tmp_path, empty_home):
    path = str(tmp_path / "lab.jobarchive")
    with Emulator(seed_jobs=8, seed=3, consume_results=True) as emu:
        done = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        jobarchive.connect(emu.url, emu.token, max_retries=0).retrieve_job(done).result()
        for _ in range(5):
            run = CliRunner().invoke(cli, ["--archive", path, "sync", "--url", emu.url,
                                           "--token", emu.token, "--max-retries", "0"])
        assert done in {d["id"] for d in emu.job_docs()}  # listed all along
    assert "1 given up" in run.stdout, run.stdout
    assert "no longer listed by the server" not in run.stdout, run.stdout
