"""`jobarchive counts ID... --format csv > counts.csv`, then `pd.read_csv("counts.csv")`: pandas
reads the bitstring "0011" as the number 11 and "01" as 1 (on a 2-qubit archive 4 bitstrings in
10 came back altered). `export --format csv` said how to read them as text; `counts` said
nothing."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

RESULT = {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
          "success": True, "results": [{"shots": 10, "success": True,
                                        "header": {"memory_slots": 4},
                                        "data": {"counts": {"0x3": 4, "0x1": 6}}}]}


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "c.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
                 "result": RESULT})
        arc.add({"job_id": "j2", "creation_date": "2021-05-04T11:36:02Z", "status": "COMPLETED"})
    return path


@pytest.mark.parametrize("to_file", [False, True])
def test_csv_counts_say_how_to_keep_bitstrings_text(path, tmp_path, to_file):
    out = tmp_path / "counts.csv"
    res = CliRunner().invoke(cli, ["--archive", str(path), "counts", "j1", "--format", "csv",
                                   *(["-o", str(out)] if to_file else [])])
    assert res.exit_code == 0, res.output
    assert "dtype={'bitstring': str}" in res.stderr, res.stderr
    assert "dtype" not in res.stdout
    text = out.read_text() if to_file else res.stdout
    assert pd.read_csv(io.StringIO(text))["bitstring"].tolist() != ["0011", "0001"]  # the trap
    back = pd.read_csv(io.StringIO(text), dtype={"bitstring": str})
    assert back["bitstring"].tolist() == ["0011", "0001"]


@pytest.mark.parametrize("fmt", ["json", "table", "parquet"])
def test_typed_formats_need_no_hint(path, tmp_path, fmt):
    res = CliRunner().invoke(cli, ["--archive", str(path), "counts", "j1", "--format", fmt,
                                   "-o", str(tmp_path / f"c.{fmt}")])
    assert res.exit_code == 0, res.output
    assert "bitstring" not in res.stderr, res.stderr


def test_no_hint_without_counts(path):
    res = CliRunner().invoke(cli, ["--archive", str(path), "counts", "j2", "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "dtype" not in res.stderr and "no stored counts" in res.stderr
