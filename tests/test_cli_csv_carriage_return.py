"""CSV output (`ls`, `export`, and every other `--format csv`) read back with pandas defaults
gives the names and tags that were stored, a bare carriage return included. A name such as
"run 3\\r" (pasted from a Windows or serial console) was written unquoted, because pandas
quotes only fields holding "\\n" (its line end): every CSV reader splits the row at "\\r",
so 300 jobs read back as 333 rows, names cut and columns shifted."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

NAMES = ["run 3\r", "a\rb", "cr\r\nlf", "plain", 'say "hi", ok', "ü量子\n2", "\rlead"]
TAGS = [["x\r"], ["a,b", "c"], [], ["new\nline"], ['q"'], ["\r\n"], ["ok"]]


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "cr.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": f"2021-03-0{i + 1}T00:00:00Z",
                       "status": "COMPLETED", "name": name, "tags": tags}
                      for i, (name, tags) in enumerate(zip(NAMES, TAGS, strict=True))])
    return path


def _check(frame: pd.DataFrame) -> None:
    frame = frame.sort_values("job_id")
    assert list(frame["job_id"]) == [f"j{i}" for i in range(len(NAMES))]
    assert list(frame["name"]) == NAMES
    assert [json.loads(t) for t in frame["tags"]] == TAGS


def test_ls_csv_reads_back_unchanged(path):
    result = CliRunner().invoke(cli, ["--archive", str(path), "ls", "--format", "csv"])
    assert result.exit_code == 0, result.output
    # stdout_bytes: click's Result.stdout turns "\r\n" into "\n" (a terminal's view)
    _check(pd.read_csv(io.BytesIO(result.stdout_bytes)))


def test_export_csv_reads_back_unchanged(path, tmp_path):
    result = CliRunner().invoke(cli, ["--archive", str(path), "export", str(tmp_path / "out"),
                                      "--format", "csv", "--no-counts"])
    assert result.exit_code == 0, result.output
    _check(pd.read_csv(tmp_path / "out" / "jobs.csv"))

