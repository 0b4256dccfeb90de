"""`jobarchive sync` creates the archive when there is none, and said nothing of it: from
cron (whose working directory is $HOME, not the project's) or with a typo in --archive, a
full history went into a new archive beside the one the researcher reads, and the only line
printed, "sync: 1200 discovered, ...", read as a good night's sync of theirs."""

from __future__ import annotations

from test_cli import run  # the CLI runner of the CLI tests

from jobarchive.emulator import Emulator


def test_sync_says_where_it_created_an_archive_and_only_then(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Emulator(seed_jobs=5, seed=1) as emu:
        args = ["sync", "--url", emu.url, "--token", emu.token, "--no-progress"]
        first = run(*args)  # no --archive: ./jobs.jobarchive of wherever it runs
        assert first.exit_code == 0, first.output
        created = [line for line in first.stderr.splitlines() if "new archive" in line]
        assert len(created) == 1, first.stderr
        assert str(tmp_path / "jobs.jobarchive") in created[0]  # absolute: cron's cwd is not yours
        again = run(*args)
        assert again.exit_code == 0, again.output
        assert "new archive" not in again.stderr, again.stderr
