"""The HTML report as its readers get it: shareable like any file the user writes."""

from __future__ import annotations

import os
import stat

import pytest

from jobarchive import Archive


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_report_file_gets_the_usual_permissions(tmp_path, umask_022):
    """A report is written to be read by others (a web server, a shared folder): it gets
    the mode any new file of the user gets (0644 under umask 022), not a temp file's 0600."""
    with Archive(tmp_path / "a") as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-01-01T00:00:00Z",
                 "status": "COMPLETED", "backend_name": "ibmq_athens"})
        written = arc.report(tmp_path / "r.html")
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
