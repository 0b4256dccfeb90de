"""Creating an archive from the CLI never spreads index.db and blobs/ into a directory
that holds other things."""

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
