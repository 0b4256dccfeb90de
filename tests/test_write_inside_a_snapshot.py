"""A write inside Archive.snapshot() (``with arc.snapshot(): ids = ...; arc.add(...)`` or a
retag of what the block just read) while another process writes to the archive (a cron
sync).

The snapshot is a read transaction as of the block's start; the write tried to upgrade it,
and once the other process had committed, SQLite refused with a bare "sqlite3.
OperationalError: database is locked": no lock to wait for, and a longer busy_timeout does
not help. Without another writer the same code worked: a write inside a snapshot is refused
always, saying why and what to do, and nothing is written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobarchive import Archive
from jobarchive.exceptions import ArchiveError


def _job(job_id: str) -> dict:
    return {"job_id": job_id, "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED"}


def _add_in_another_process(path, job_id: str) -> None:
    code = "import sys; from jobarchive import Archive; Archive(sys.argv[1]).add(eval(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", code, str(path), repr(_job(job_id))], check=True)


@pytest.mark.parametrize("other_writer", [True, False], ids=["another-process-wrote", "alone"])
def test_a_write_inside_a_snapshot_is_refused_clearly_and_works_after_it(tmp_path, other_writer):
    with Archive(tmp_path / "a") as arc:
        arc.add(_job("a"))
        with arc.snapshot():
            assert len(arc) == 1
            if other_writer:
                _add_in_another_process(arc.path, "b")
            with pytest.raises(ArchiveError) as info:
                arc.add(_job("c"))
            assert "snapshot" in str(info.value) and "after the block" in str(info.value)
            assert len(arc) == 1  # the block's reads still see its state
        assert "c" not in arc
        arc.add(_job("c"))
        assert sorted(arc.query()["job_id"]) == (["a", "b", "c"] if other_writer else ["a", "c"])
