"""The command line of the durability work: `jobarchive backup DEST` writes a copy that
audits clean, refuses a non-empty DEST, and exits 3 on a damaged blob (copying the rest with
--allow-damaged); `jobarchive audit` exits 3 on stale tag_counts, which --repair recounts."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import EXIT_PROBLEMS, cli


def _archive(tmp_path):
    path = tmp_path / "src"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": "2022-01-01T00:00:00Z",
                       "status": "COMPLETED", "tags": ["a"],
                       "result": {"results": [{"data": {"counts": {"0x1": 3}}}]}}
                      for i in range(5)])
    return path


def test_cli_backup_writes_a_copy_that_audits_clean(tmp_path):
    src = _archive(tmp_path)
    res = CliRunner().invoke(cli, ["--archive", str(src), "backup", str(tmp_path / "copy")])
    assert res.exit_code == 0, res.output
    with Archive(tmp_path / "copy", create=False) as copy:
        assert len(copy) == 5 and copy.audit()["ok"].all()
    res = CliRunner().invoke(cli, ["--archive", str(src), "backup", str(tmp_path / "copy")])
    assert res.exit_code != 0 and "not empty" in res.output


def test_cli_audit_fails_on_stale_tag_counts_and_repair_fixes_them(tmp_path):
    src = _archive(tmp_path)
    conn = sqlite3.connect(src / "index.db")  # as an older version leaves them
    conn.execute("DELETE FROM tag_counts")
    conn.commit()
    conn.close()
    res = CliRunner().invoke(cli, ["--archive", str(src), "audit"])
    assert res.exit_code == EXIT_PROBLEMS and "tag_counts" in res.output
    res = CliRunner().invoke(cli, ["--archive", str(src), "audit", "--repair"])
    assert res.exit_code == 0, res.output


def test_cli_backup_of_a_damaged_archive_exits_3_and_copies_the_rest_only_when_asked(tmp_path):
    src = _archive(tmp_path)
    with Archive(src) as arc:
        arc.add({"job_id": "other", "creation_date": "2022-01-02T00:00:00Z", "status": "COMPLETED",
                 "result": {"results": [{"data": {"counts": {"0x0": 1}}}]}})
        (_, lost, _), = arc.index.locations(["j0"])
    (src / lost).unlink()
    res = CliRunner().invoke(cli, ["--archive", str(src), "backup", str(tmp_path / "copy")])
    assert res.exit_code == EXIT_PROBLEMS and "missing" in res.output
    assert not (tmp_path / "copy").exists()
    res = CliRunner().invoke(cli, ["--archive", str(src), "backup", str(tmp_path / "copy"),
                                   "--allow-damaged", "--format", "json"])
    assert res.exit_code == EXIT_PROBLEMS and '"jobs": 6' in res.output
    with Archive(tmp_path / "copy", create=False) as copy:
        frame = copy.audit().set_index("job_id")
        assert frame.loc["other", "ok"] and not frame.loc["j0", "ok"]
