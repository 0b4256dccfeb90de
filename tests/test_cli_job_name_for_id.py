"""`jobarchive show bell-224`: a newcomer gives the name the table shows beside the id, and
was told "no job 'bell-224' in lab.jobarchive", as if the job were missing. When the value
is the name of archived jobs, the message says so and names their ids; `counts` and `retag`
(by ids) the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import run  # the CLI runner of the CLI tests

from jobarchive import Archive


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"6b06c1ea5ac8129719{i:06d}", "name": "bell-224" if i < 2 else
                       f"ghz.{i}", "creation_date": f"2021-03-0{i + 1}T00:00:00Z",
                       "status": "COMPLETED"} for i in range(4)])
    return path


@pytest.mark.parametrize("args", [["show", "bell-224"], ["counts", "bell-224"],
                                  ["retag", "bell-224", "--add", "x"]], ids=lambda a: a[0])
def test_a_job_name_given_for_an_id_names_the_ids(arc_path, args):
    res = run(*args, archive=arc_path)
    assert res.exit_code == 1, res.stderr
    line = res.stderr.strip()
    assert "6b06c1ea5ac8129719000001" in line and "6b06c1ea5ac8129719000000" in line, line
    assert "is the name of" in line, line


def test_a_name_is_matched_whole_and_literally(arc_path):
    res = run("show", "ghz", archive=arc_path)  # part of a name; "." is no wildcard below
    assert res.exit_code == 1 and "is the name of" not in res.stderr, res.stderr
    res = run("show", "ghzx2", archive=arc_path)
    assert res.exit_code == 1 and "is the name of" not in res.stderr, res.stderr


def test_an_unknown_value_says_no_job(arc_path):
    res = run("show", "nosuchjob", archive=arc_path)
    assert res.exit_code == 1 and "no job 'nosuchjob'" in res.stderr, res.stderr
