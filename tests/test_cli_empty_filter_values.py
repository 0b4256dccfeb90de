"""An empty filter value, as `--backend "$BACKEND"` gives with the variable unset, is a usage
error (exit 2) naming the option. It used to match no job for --tag, --backend and
--run-mode and every job for --name, without a word: a `retag --tag "$T" --remove x`
with $T unset would have said "0 jobs" or, with --name, retagged everything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from jobarchive import Archive
from jobarchive.cli import cli


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "a.jobarchive"
    with Archive(path) as arc:
        arc.add_many([{"job_id": f"j{i}", "creation_date": "2021-05-04T11:35:02Z",
                       "status": "COMPLETED", "tags": ["t"], "backend_name": "ibmq_lima",
                       "name": "bell", "run_mode": "fairshare"} for i in range(3)])
    return path


@pytest.mark.parametrize("command", [["ls"], ["export", "out"], ["retag", "--add", "x"]])
@pytest.mark.parametrize("option", ["--tag", "--backend", "--name", "--run-mode"])
def test_an_empty_filter_value_is_a_usage_error(archive, tmp_path, command, option):
    res = CliRunner().invoke(cli, ["--archive", str(archive), *command, option, ""])
    assert res.exit_code == 2, res.output
    assert f"Invalid value for '{option}': an empty value" in res.stderr
    with Archive(archive) as arc:
        assert all(tags == ["t"] for tags in arc.query()["tags"])  # nothing retagged


def test_sync_backend_empty_is_a_usage_error(archive):
    res = CliRunner().invoke(cli, ["--archive", str(archive), "sync", "--url", "http://127.0.0.1:9/api",
                                   "--token", "t", "--backend", ""])
    assert res.exit_code == 2 and "Invalid value for '--backend'" in res.stderr, res.output
