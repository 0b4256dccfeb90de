"""The `ls` table prints a job's tags joined by commas ("calibration,exp1,student"), and
`--columns` takes a comma list: a newcomer writes `--tag vqe,qaoa` or `--backend
ibmq_athens,ibmq_lima` and gets "no jobs match" and exit 0, as if no job had them (a tag
may hold a comma, so the value is one tag). The command now says, on stderr, that no job
has that value and how to give several; `--status DONE,ERROR` says so in its usage error."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import run  # the CLI runner of the CLI tests

from jobarchive import Archive


@pytest.fixture
def arc_path(tmp_path: Path) -> Path:
    path = tmp_path / "lab.jobarchive"
    with Archive(path) as arc:
        arc.add_many([
            {"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED",
             "backend_name": "ibmq_athens", "tags": ["vqe", "exp1"]},
            {"job_id": "j2", "creation_date": "2021-03-02T00:00:00Z", "status": "ERROR_RUNNING_JOB",
             "backend_name": "ibmq_lima", "tags": ["qaoa"]},
            {"job_id": "j3", "creation_date": "2021-03-03T00:00:00Z", "status": "COMPLETED",
             "backend_name": "ibmq_lima", "tags": ["h2,lih"]},  # a comma in a real tag
        ])
    return path


def test_a_comma_list_of_tags_says_how_to_give_several(arc_path):
    res = run("ls", "--tag", "vqe,qaoa", archive=arc_path)
    assert res.exit_code == 0, res.stderr
    assert "--tag vqe --tag qaoa" in res.stderr, res.stderr
    both = run("ls", "--tag", "vqe", "--tag", "qaoa", "--format", "csv", archive=arc_path)
    assert both.stdout.count("\nj") == 2  # what the hint says works


def test_a_comma_list_of_backends_says_how_to_give_several(arc_path):
    res = run("ls", "--backend", "ibmq_athens,ibmq_lima", "--format", "csv", archive=arc_path)
    assert res.exit_code == 0, res.stderr
    assert "--backend ibmq_athens --backend ibmq_lima" in res.stderr, res.stderr


def test_a_tag_that_holds_a_comma_is_found_without_a_word(arc_path):
    res = run("ls", "--tag", "h2,lih", "--format", "csv", archive=arc_path)
    assert res.exit_code == 0 and res.stdout.count("\nj3") == 1, res.output
    assert res.stderr == "", res.stderr


def test_a_comma_list_of_statuses_says_how_to_give_several(arc_path):
    res = run("ls", "--status", "DONE,ERROR", archive=arc_path)
    assert res.exit_code == 2
    assert "--status DONE --status ERROR" in res.stderr, res.stderr
