"""`jobarchive show` of a job whose blob file is damaged: what ran, where and when is in the
index and must stay readable (an auditor asks exactly that of a damaged job)."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import EXIT_PROBLEMS, cli

RESULT = {"backend_name": "ibmq_lima", "backend_version": "1.0", "qobj_id": "q", "job_id": "x",
          "success": True, "results": [{"shots": 10, "success": True, "header": {},
                                        "data": {"counts": {"0x0": 4, "0x1": 6}}}]}


def _damaged(tmp_path):
    path = tmp_path / "d.jobarchive"
    with Archive(path) as arc:
        arc.add({"job_id": "hurt", "creation_date": "2021-05-04T11:35:02Z", "status": "COMPLETED",
                 "name": "bell", "backend_name": "ibmq_lima", "tags": ["t1"], "result": RESULT})
        intact = arc.record("hurt")
    (blob,) = (path / "blobs").glob("*.parquet")
    os.truncate(blob, blob.stat().st_size // 2)
    return path, intact


def _run(path, *args):
    return CliRunner().invoke(cli, ["--archive", str(path), "show", *args])


def test_show_of_a_job_in_a_damaged_blob_still_shows_its_record(tmp_path):
    """It failed with the blob error alone: name, backend, status and dates were not shown
    though the index holds them. They are, with the result said to be unreadable (exit 3)."""
    path, _ = _damaged(tmp_path)
    res = _run(path, "hurt")
    assert res.exit_code == EXIT_PROBLEMS, res.output
    assert "bell" in res.stdout and "ibmq_lima" in res.stdout and "2021-05-04" in res.stdout
    assert "damaged" in res.stdout and "jobarchive audit" in res.stderr, res.output


def test_show_json_without_payloads_does_not_need_the_blob(tmp_path):
    """`show --json --no-payloads` read the payloads it then dropped, so a damaged blob made
    it fail; it now prints the record without them, as for an intact job. With payloads it
    still fails, naming --no-payloads."""
    path, intact = _damaged(tmp_path)
    res = _run(path, "hurt", "--json", "--no-payloads")
    assert res.exit_code == 0, res.output
    expected = {k: v for k, v in intact.items() if k not in ("qobj", "result")}
    assert res.stdout == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    full = _run(path, "hurt", "--json")
    assert full.exit_code == 1 and "--no-payloads" in full.stderr, full.output
