"""The dates of `jobarchive ls` tables are UTC, while a naive --since/--until is local time
(as upstream's jobs()): the table must say its zone, and a date copied from it (or from
`show`) must select the job it came from."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli
from jobarchive.query import to_utc_us


@pytest.fixture
def zone(monkeypatch):
    """Set the local time zone for a test (and restore it)."""
    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield set_zone
    monkeypatch.undo()
    time.tzset()


def _run(path, *args):
    return CliRunner().invoke(cli, ["--archive", str(path), *args])


def test_a_date_copied_from_the_table_selects_its_job_in_any_time_zone(tmp_path, zone):
    """In Berlin the table showed 2023-02-23 12:49:31 for a job created 12:49:31 UTC, with no
    zone; `--since '2023-02-23 12:49:31'` (local, 11:49:31 UTC) then... and --until of the
    same text left the job out. The table says UTC, and that text is read as UTC."""
    zone("Europe/Berlin")
    path = tmp_path / "z.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2023-02-23T12:49:31Z", "status": "COMPLETED"})
    table = _run(path, "ls")
    assert table.exit_code == 0, table.output
    (line,) = table.stdout.splitlines()[1:]
    shown = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC)?", line).group(0)
    assert shown == "2023-02-23 12:49:31 UTC", line
    for option in ("--since", "--until"):
        res = _run(path, "ls", option, shown, "--format", "json")
        assert res.exit_code == 0, res.output
        assert [r["job_id"] for r in json.loads(res.stdout)] == ["j1"], option


def test_utc_suffix_is_read_as_utc_by_query(zone):
    zone("America/New_York")
    utc = to_utc_us("2023-02-23T12:49:31Z", "x")
    assert to_utc_us("2023-02-23 12:49:31 UTC", "x") == utc
    assert to_utc_us("2023-02-23 12:49:31.000000 utc", "x") == utc


def test_a_date_alone_with_utc_is_that_utc_day(tmp_path, zone):
    """'2021-03-01 UTC' was read as local midnight (fromisoformat ignores an offset after a
    date alone), and --until did not extend it to the end of that day."""
    zone("America/New_York")
    assert to_utc_us("2021-03-01 UTC", "x") == to_utc_us("2021-03-01T00:00:00Z", "x")
    path = tmp_path / "d.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": job_id, "creation_date": created, "status": "COMPLETED"}
                      for job_id, created in (("early", "2021-03-01T01:00:00Z"),
                                              ("late", "2021-03-01T23:00:00Z"),
                                              ("next", "2021-03-02T01:00:00Z"))])
    res = _run(path, "ls", "--since", "2021-03-01 UTC", "--until", "2021-03-01 UTC",
               "--format", "json")
    assert res.exit_code == 0, res.output
    assert sorted(r["job_id"] for r in json.loads(res.stdout)) == ["early", "late"]


def test_a_date_alone_with_an_offset_is_midnight_at_that_offset(zone):
    """fromisoformat reads '2021-03-01+05:00' as 05:00 local time (naive): a start bound
    written so was off by the local offset plus five hours."""
    zone("America/New_York")
    assert to_utc_us("2021-03-01+05:00", "x") == to_utc_us("2021-03-01T00:00:00+05:00", "x")
    assert to_utc_us("2021-03-01-0130", "x") == to_utc_us("2021-03-01T00:00:00-01:30", "x")
