"""`jobarchive export --format csv`: bitstrings are text ("0011"), which CSV readers take
for numbers unless told (pandas reads "0011" as 11 and "01" as 1)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli

RESULT = {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
          "success": True, "results": [{"shots": 10, "success": True,
                                        "header": {"memory_slots": 4},
                                        "data": {"counts": {"0x3": 4, "0x1": 6}}}]}


def test_csv_counts_export_says_how_to_keep_bitstrings_text(tmp_path):
    path = tmp_path / "e.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "j1", "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
                 "result": RESULT})
    res = CliRunner().invoke(cli, ["--archive", str(path), "export", str(tmp_path / "out"),
                                   "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "dtype={'bitstring': str}" in res.stderr, res.stderr
    back = pd.read_csv(tmp_path / "out" / "counts.csv", dtype={"bitstring": str})
    assert sorted(back["bitstring"]) == ["0001", "0011"]
