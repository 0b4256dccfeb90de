"""`--until` with a time to the second (as `jobarchive ls` prints dates) includes that second:
real jobs are created at milliseconds (2023-02-15T01:58:57.966Z), the table prints
"2023-02-15 01:58:57 UTC", and that text copied into --until left out the very job it was
copied from. A bound to the minute or hour includes that minute or hour, as a date alone
includes its day."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

JOBS = {"early": "2023-02-15T01:58:56.999Z", "seen": "2023-02-15T01:58:57.966Z",
        "next_second": "2023-02-15T01:58:58.000Z", "next_minute": "2023-02-15T01:59:00.001Z",
        "next_hour": "2023-02-15T02:00:00.000Z"}


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "ms.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": job_id, "creation_date": when, "status": "COMPLETED"}
                      for job_id, when in JOBS.items()])
    return path


@pytest.fixture(params=["UTC", "Asia/Kolkata", "America/New_York"])
def zone(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def _ids(path, *args) -> set[str]:
    result = CliRunner().invoke(cli, ["--archive", str(path), "ls", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {row["job_id"] for row in json.loads(result.stdout)}


def test_until_a_date_copied_from_the_table_includes_its_job(path, zone):
    table = CliRunner().invoke(cli, ["--archive", str(path), "ls"])
    assert table.exit_code == 0, table.output
    line = next(ln for ln in table.stdout.splitlines() if ln.startswith("seen "))
    shown = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line).group(0)
    assert shown == "2023-02-15 01:58:57 UTC"
    assert _ids(path, "--until", shown) == {"early", "seen"}
    assert _ids(path, "--since", shown, "--until", shown) == {"seen"}


@pytest.mark.parametrize(("until", "expected"), [
    ("2023-02-15T01:58:57Z", {"early", "seen"}),
    ("2023-02-15T01:58Z", {"early", "seen", "next_second"}),
    ("2023-02-15T01:58:57+00:00", {"early", "seen"}),
    ("2023-02-15T07:28:57+05:30", {"early", "seen"}),
    ("2023-02-15T01:58:57.000Z", {"early"}),  # a fraction written is the instant
    ("2023-02-15T01:58:57.966Z", {"early", "seen"}),
    ("2023-02-15 01 UTC", {"early", "seen", "next_second", "next_minute"}),
])
def test_until_includes_the_last_unit_written(path, until, expected):
    assert _ids(path, "--until", until) == expected


def test_until_naive_local_time_to_the_second(path, zone):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(JOBS["seen"]).astimezone(ZoneInfo(zone))
    assert _ids(path, "--until", local.strftime("%Y-%m-%dT%H:%M:%S")) == {"early", "seen"}


@pytest.mark.parametrize("until", ["2023-02-15+05:30", "2023-02-15+0530"])
def test_until_a_date_alone_with_an_offset_includes_that_day(tmp_path, until):
    """'--until 2023-02-15' and '--until "2023-02-15 UTC"' include that day; the same date
    with an offset meant its first instant, leaving out every job of the day."""
    path = tmp_path / "day.jobarchive"
    with Archive(path) as arc:  # 2023-02-15 at +05:30 is 2023-02-14T18:30Z .. 2023-02-15T18:30Z
        arc.add_many([{"job_id": job_id, "creation_date": when, "status": "COMPLETED"}
                      for job_id, when in (("before", "2023-02-14T18:29:59Z"),
                                           ("morning", "2023-02-14T20:00:00Z"),
                                           ("evening", "2023-02-15T18:29:59.5Z"),
                                           ("after", "2023-02-15T18:30:00Z"))])
    assert _ids(path, "--since", until, "--until", until) == {"morning", "evening"}
