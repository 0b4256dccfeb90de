"""The archive path a newcomer gets wrong: the folder that holds the archive instead of the
archive (`--archive ~/data` for ~/data/lab.jobarchive), or a file. The message must name
the fix that works, and `sync` must say so before it sends the token anywhere."""

from __future__ import annotations

from pathlib import Path

from test_cli import run  # the CLI runner of the CLI tests

from jobarchive import Archive
from jobarchive.emulator import Emulator


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), \
        (result.exit_code, result.stderr, result.exception)
    return lines[0]


def test_the_folder_holding_an_archive_names_the_archive_in_it(tmp_path):
    data = tmp_path / "data"
    with Archive(data / "lab.jobarchive") as arc:
        arc.add_many([{"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z",
                       "status": "COMPLETED"}])
    (data / "notes.txt").write_text("x")
    line = _one_error_line(run("ls", archive=data))
    # `jobarchive init data` (the old advice) refuses a non-empty directory.
    assert "init" not in line, line
    assert str(data / "lab.jobarchive") in line, line


def test_a_folder_that_is_not_an_archive_is_not_offered_init(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "run1.csv").write_text("a,b\n")
    line = _one_error_line(run("ls", archive=folder))
    assert "init" not in line and "not an archive" in line, line
    assert not (folder / "index.db").exists()


def test_a_missing_archive_still_offers_init(tmp_path):
    line = _one_error_line(run("ls", archive=tmp_path / "new.jobarchive"))
    assert "jobarchive init" in line, line


def test_sync_into_a_file_says_so_before_any_request(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("a,b\n")
    with Emulator(seed_jobs=3) as emu:
        emu.reset_stats()
        result = run("sync", "--url", emu.url, "--token", emu.token, "--no-progress",
                     archive=path)
        line = _one_error_line(result)
        assert "is a file, not an archive directory" in line, line
        assert emu.stats()["total"] == 0, emu.stats()
    assert path.read_text() == "a,b\n"


def test_sync_into_a_file_without_a_url_blames_the_path_not_the_network(tmp_path, monkeypatch):
    """Without --url the token would go to IBM's server: unreachable here, the user was told
    to check the network when the archive path was the mistake."""
    monkeypatch.delenv("JOBARCHIVE_URL", raising=False)
    monkeypatch.delenv("QE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = Path(tmp_path / "jobs.csv")
    path.write_text("a,b\n")
    line = _one_error_line(run("sync", "--token", "a-token-1234", "--no-progress", archive=path))
    assert "is a file, not an archive directory" in line, line
