"""The Parquet files of `export` and `ls --format parquet` type `tags` as a list of strings
whatever the selection holds. pyarrow guessed the type from the values: `list<null>` when
no selected job had a tag, `null` when nothing was selected, so monthly exports read back
together (`pd.read_parquet("exports/")`, a pyarrow dataset, DuckDB or Spark over the files)
failed with "Unsupported cast from list<element: string> to null"."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

MONTHS = {"2021-01": ["a", "b"], "2021-02": [], "2021-03": None}  # tags; None: no job


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "m.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{month}-{i}", "creation_date": f"{month}-1{i}T00:00:00Z",
                       "status": "COMPLETED", "tags": tags}
                      for month, tags in MONTHS.items() if tags is not None for i in range(2)])
    return path


def _run(path, *args):
    result = CliRunner().invoke(cli, ["--archive", str(path), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("how", ["export", "ls"])
def test_monthly_parquet_files_read_back_together(path, tmp_path, how):
    together = tmp_path / "together"
    together.mkdir()
    for month in MONTHS:
        bounds = ["--since", f"{month}-01 UTC", "--until", f"{month}-28 UTC"]
        target = together / f"{month}.parquet"
        if how == "export":
            _run(path, "export", str(tmp_path / month), *bounds)
            shutil.copy(tmp_path / month / "jobs.parquet", target)
        else:
            _run(path, "ls", "--format", "parquet", "--output", str(target), *bounds)
        assert pq.read_schema(target).field("tags").type == pa.list_(pa.string()), month
    frame = pd.read_parquet(together)
    assert sorted(frame["job_id"]) == sorted(f"j{m}-{i}" for m, t in MONTHS.items()
                                             if t is not None for i in range(2))
    assert sorted(map(list, frame["tags"])) == [[], [], ["a", "b"], ["a", "b"]]
