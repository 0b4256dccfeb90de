"""First steps on the CLI: creating an archive never spreads index.db and blobs/ into a
directory that holds other things; a server that cannot be reached is said to be so."""

from __future__ import annotations

from click.testing import CliRunner

from jobarchive.cli import cli


def test_init_and_sync_refuse_a_non_empty_directory_that_is_not_an_archive(tmp_path):
    """`jobarchive init ~/Documents` wrote index.db and blobs/ beside the user's files."""
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for args in (["init", str(mine)], ["--archive", str(mine), "sync", "--token", "t" * 10,
                                       "--url", "http://127.0.0.1:9/api"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, res.output
        assert "non-empty directory that is not an archive" in res.stderr
        assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(cli, ["init", str(empty)])
    assert res.exit_code == 0 and (empty / "index.db").exists()
    res = CliRunner().invoke(cli, ["init", str(empty)])  # an archive: fine, says so
    assert res.exit_code == 0 and "already an archive" in res.stdout


def test_an_unreachable_server_is_not_called_a_wrong_url(tmp_path):
    """Offline, or the emulator not started: the error said "is not an IBM Quantum
    authentication URL" (upstream's text for a URL that answers wrongly), sending users to
    change a URL that was right. It now says the server could not be reached, and why."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "sync", "--url", url,
                                   "--token", "t" * 10, "--max-retries", "0"])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach {url} ("), lines
    assert "refused" in lines[0] and "not an IBM Quantum" not in lines[0]
    assert "t" * 10 not in res.output


def test_a_url_that_answers_wrongly_is_still_called_one(tmp_path):
    from jobarchive.emulator import Emulator

    with Emulator(seed_jobs=0) as emu:
        url = emu.url.rsplit("/api", 1)[0] + "/nothing"
        res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "sync", "--url", url,
                                       "--token", emu.token, "--max-retries", "0"])
    assert res.exit_code == 1 and "not an IBM Quantum authentication URL" in res.stderr
