"""`--until DATE` means what its help says, "created on or before": a date alone includes the
jobs of that day (it was that day's midnight, so `--since D --until D` found nothing)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli
from jobarchive.emulator import Emulator


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Naive dates are local time: pin it, so the day is the same for every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _job(job_id: str, created: str) -> dict:
    return {"job_id": job_id, "creation_date": created, "status": "COMPLETED",
            "backend_name": "ibmq_athens", "tags": ["t"]}


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "d.jobarchive"
    with Archive(p) as arc:
        arc.add_many([_job("before", "2021-02-28T23:59:59Z"), _job("morning", "2021-03-01T00:00:00Z"),
                      _job("evening", "2021-03-01T23:59:59.999Z"), _job("after", "2021-03-02T00:00:00Z")])
    return p


def _ids(path, *args: str) -> list[str]:
    res = CliRunner().invoke(cli, ["--archive", str(path), "ls", "--format", "json", *args])
    assert res.exit_code == 0, res.output
    return sorted(row["job_id"] for row in json.loads(res.stdout))


def test_until_a_date_includes_that_day(path):
    assert _ids(path, "--since", "2021-03-01", "--until", "2021-03-01") == ["evening", "morning"]
    assert _ids(path, "--until", "2021-03-01") == ["before", "evening", "morning"]
    # a time given is taken as given
    assert _ids(path, "--until", "2021-03-01T00:00:00") == ["before", "morning"]
    assert _ids(path, "--until", "2021-03-01T12:00:00+00:00") == ["before", "morning"]
    res = CliRunner().invoke(cli, ["--archive", str(path), "retag", "--until", "2021-02-28",
                                   "--add", "feb", "--no-progress"])
    assert res.exit_code == 0 and "1 selected" in res.stderr, res.output
    res = CliRunner().invoke(cli, ["--archive", str(path), "ls", "--until", "2021-13-01"])
    assert res.exit_code == 2 and "--until" in res.stderr


def test_sync_until_a_date_includes_that_day(tmp_path):
    with Emulator(seed_jobs=80, seed=2) as emu:
        days = sorted({d["creationDate"][:10] for d in emu.job_docs()})
        day = days[len(days) // 2]
        want = sorted(d["id"] for d in emu.job_docs() if d["creationDate"][:10] == day)
        path = tmp_path / "s.jobarchive"
        res = CliRunner().invoke(cli, ["--archive", str(path), "sync", "--url", emu.url,
                                       "--token", emu.token, "--since", day, "--until", day,
                                       "--no-progress"])
        assert res.exit_code == 0, res.output
    with Archive(path) as arc:
        assert sorted(arc.query()["job_id"]) == want and want
