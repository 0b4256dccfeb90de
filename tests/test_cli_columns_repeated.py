"""`ls --columns job_id,name,job_id` (a column list a script built, with a repeat) failed in
JSON and Parquet with pandas' "Error: ValueError: DataFrame columns must be unique for
orient='records'." A column named twice is shown once, where it first appears."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "c.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-03-01T00:00:00Z", "status": "COMPLETED",
                 "name": "bell"})
    return path


@pytest.mark.parametrize("fmt", ["json", "csv", "table", "parquet"])
def test_a_repeated_column_is_shown_once(path, tmp_path, fmt):
    out = tmp_path / "o.parquet"
    result = CliRunner().invoke(cli, ["--archive", str(path), "ls", "--columns",
                                      "name, job_id,name", "--format", fmt,
                                      *(["-o", str(out)] if fmt == "parquet" else [])])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.stdout) == [{"name": "bell", "job_id": "j1"}]
    elif fmt == "parquet":
        assert list(pd.read_parquet(out).columns) == ["name", "job_id"]
    else:
        assert result.stdout.splitlines()[0].replace(",", " ").split() == ["name", "job_id"]
