"""CLI defects found in review: each test failed on the code before its fix.

Real emulator on 127.0.0.1 (port 0), real archives in tmp_path, the CLI through CliRunner.
Outgoing HTTPS goes to a dead local proxy, so a regression can never send a token off the
machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli
from jobarchive.emulator import Emulator


@pytest.fixture
def clean_env(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials from the environment or ~/.qiskit; HTTPS to anywhere fails at once."""
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return empty_home


def run(archive: Path, *args: str):
    return CliRunner().invoke(cli, ["--archive", str(archive), *args], catch_exceptions=True)


def test_retag_remote_without_url_goes_to_the_server_the_archive_was_synced_from(
        tmp_path, clean_env):
    path = tmp_path / "lab.jobarchive"
    with Emulator(seed_jobs=6, seed=2) as emu:
        res = run(path, "sync", "--url", emu.url, "--token", emu.token, "--no-progress")
        assert res.exit_code == 0, res.output
        job_id = emu.job_docs()[0]["id"]
        res = run(path, "retag", job_id, "--add", "h1-remote", "--remote", "--token", emu.token,
                  "--no-progress")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        assert "h1-remote" in (emu.job_doc(job_id).get("tags") or [])
        assert f"server: {emu.url} (this archive's last sync" in res.stderr
        with Archive(path) as arc:
            assert "h1-remote" in arc.record(job_id)["tags"]
        res = run(path, "retag", "--undo", "--remote", "--token", emu.token, "--no-progress")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        assert "h1-remote" not in (emu.job_doc(job_id).get("tags") or [])
        # sync without --url as well: the archive's server, not IBM's
        res = run(path, "sync", "--token", emu.token, "--no-progress")
        assert res.exit_code == 0, (res.stdout, res.stderr)


def test_retag_remote_without_url_on_an_archive_with_no_record_of_its_server_is_refused(
        tmp_path, clean_env):
    """An archive synced before the server was recorded: only the cursor names the server.
    The default (IBM's) URL is not assumed; the error names --url and the server seen."""
    path = tmp_path / "lab.jobarchive"
    with Emulator(seed_jobs=3, seed=2) as emu:
        assert run(path, "sync", "--url", emu.url, "--token", emu.token,
                   "--no-progress").exit_code == 0
        with Archive(path) as arc:
            arc.index.journal_clear("sync:server")
        job_id = emu.job_docs()[0]["id"]
        emu.reset_stats()
        res = run(path, "retag", job_id, "--add", "x", "--remote", "--token", emu.token,
                  "--no-progress")
        assert res.exit_code == 2, (res.stdout, res.stderr)
        assert "--url" in res.stderr and emu.url in res.stderr
        assert emu.stats().get("total", 0) == 0
        with Archive(path) as arc:
            assert "x" not in arc.record(job_id)["tags"]


def test_a_qiskitrc_token_is_not_sent_to_the_archives_other_server(tmp_path, clean_env):
    """The token of ~/.qiskit/qiskitrc belongs with that file's URL (IBM's by default): a
    command on an archive synced from another server asks for --url instead."""
    path = tmp_path / "lab.jobarchive"
    rc = clean_env / ".qiskit" / "qiskitrc"
    rc.parent.mkdir()
    rc.write_text("[ibmq]\ntoken = my-ibm-token\n")
    with Emulator(seed_jobs=3, seed=2) as emu:
        assert run(path, "sync", "--url", emu.url, "--token", emu.token,
                   "--no-progress").exit_code == 0
        job_id = emu.job_docs()[0]["id"]
        emu.reset_stats()
        for args in (["retag", job_id, "--add", "x", "--remote"], ["sync"]):
            res = run(path, *args, "--no-progress")
            assert res.exit_code == 2, (args, res.stdout, res.stderr)
            assert "--url" in res.stderr and emu.url in res.stderr
        assert emu.stats().get("total", 0) == 0
        # with the token on the command line, the archive's server is the one meant
        res = run(path, "retag", job_id, "--add", "x", "--remote", "--token", emu.token,
                  "--no-progress")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        assert "x" in (emu.job_doc(job_id).get("tags") or [])


def test_sync_follow_says_after_each_pass_that_it_is_still_waiting(tmp_path, clean_env,
                                                                    monkeypatch):
    """``sync --follow`` can wait hours for queued jobs; without a terminal (a log, nohup)
    it printed nothing at all until the last job ended."""
    import jobarchive
    import jobarchive.sync as sync_module
    from jobarchive.demo import bell_and_ghz
    from jobarchive.qobj import qobj_from_circuits

    path = tmp_path / "lab.jobarchive"
    with Emulator(seed_jobs=2, seed=2, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        backend = next(b for b in provider.backends() if b.configuration().get("simulator"))
        backend.run(qobj_from_circuits(bell_and_ghz(), shots=10))
        monkeypatch.setattr(sync_module.time, "sleep", lambda seconds: emu.advance(3600))
        res = run(path, "sync", "--url", emu.url, "--token", emu.token, "--follow",
                  "--poll-interval", "5", "--no-progress")
        assert res.exit_code == 0, (res.stdout, res.stderr)
        assert "pass 1 done" in res.stderr and "1 jobs still running" in res.stderr
        assert "still running" not in res.stderr.split("pass 1 done")[1].split("\n", 1)[1]
