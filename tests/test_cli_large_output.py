"""The CLI's bulk listings at scale: JSON is written in chunks of rows (the whole frame parsed
back at once cost ~8x the output's size in memory), and the text is the same as one list."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive import cli as cli_module
from jobarchive.cli import cli


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "s.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": f"2021-05-0{i + 1}T11:35:02Z",
                       "status": "COMPLETED", "backend_name": "ibmq_lima", "name": f"ü/{i}",
                       "tags": ["a", f"t{i}"]} for i in range(5)])
    return path


@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_json_listing_in_chunks_is_one_indented_list(small, tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(cli_module, "_JSON_CHUNK", chunk)
    res = CliRunner().invoke(cli, ["--archive", str(small), "ls", "--format", "json",
                                   "--ascending"])
    assert res.exit_code == 0, res.output
    records = json.loads(res.stdout)
    assert [r["job_id"] for r in records] == [f"j{i}" for i in range(5)]
    assert records[3]["name"] == "ü/3" and records[3]["tags"] == ["a", "t3"]
    # Exactly what json.dumps(list, indent=2) of the whole frame printed before.
    assert res.stdout == json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    out = tmp_path / "o.json"
    res = CliRunner().invoke(cli, ["--archive", str(small), "ls", "--format", "json",
                                   "--ascending", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8") == json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def test_json_listing_of_nothing_is_an_empty_list(small):
    res = CliRunner().invoke(cli, ["--archive", str(small), "ls", "--format", "json",
                                   "--backend", "nowhere"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "[]\n"
