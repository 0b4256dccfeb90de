"""`jobarchive show`: every step of time_per_step stays readable, and a v1 job says where
its circuits and results are."""

from __future__ import annotations

from click.testing import CliRunner

from jobarchive import Archive, IBMQJob
from jobarchive.cli import cli


def _show(path, job_id: str) -> str:
    res = CliRunner().invoke(cli, ["--archive", str(path), "show", job_id])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_long_step_names_keep_a_space_before_their_time(tmp_path):
    """ERROR_CREATING_JOB (18 characters) ran into its date:
    `ERROR_CREATING_JOB2023-02-20 20:26:17 UTC`."""
    steps = {"CREATING": "2023-02-20T20:25:50.674Z", "ERROR_CREATING_JOB": "2023-02-20T20:26:17.630Z",
             "ERROR_TRANSPILING_JOB": "2023-02-20T20:26:18Z"}
    with Archive(tmp_path / "s.jobarchive") as arc:
        arc.add({"job_id": "err1", "creation_date": "2023-02-20T20:25:50.674Z",
                 "status": "ERROR_CREATING_JOB", "time_per_step": steps})
    out = _show(tmp_path / "s.jobarchive", "err1")
    lines = {line.split()[0]: line for line in out.split("time_per_step", 1)[1].splitlines()[1:4]}
    assert set(lines) == set(steps)
    for line in lines.values():
        assert line.split()[1].startswith("2023-02-20"), line
    assert len({line.index("2023") for line in lines.values()}) == 1  # one column


def test_a_v1_job_says_its_circuits_and_results_are_in_qasms(tmp_path, real_corpus):
    doc = next(e["document"] for e in real_corpus if e["document"].get("id") ==
               "5b633f94f9b81b00364af0dd" and e["document"]["status"] == "COMPLETED")
    with Archive(tmp_path / "v1.jobarchive") as arc:
        arc.add(IBMQJob.from_server(doc))
    out = _show(tmp_path / "v1.jobarchive", "5b633f94f9b81b00364af0dd")
    assert "result        none" in out
    assert "1 circuit with QASM and results (a v1 job" in out


def test_an_error_without_a_code_shows_its_message_alone(tmp_path):
    """`error: None: Job validation failed` read as if "None" were the code."""
    with Archive(tmp_path / "e.jobarchive") as arc:
        arc.add({"job_id": "e1", "creation_date": "2021-05-03T10:00:00Z",
                 "status": "ERROR_VALIDATING_JOB", "error": {"message": "Job validation failed"}})
        arc.add({"job_id": "e2", "creation_date": "2021-05-03T10:00:00Z",
                 "status": "ERROR_RUNNING_JOB", "error": {"code": 7001, "message": "boom"}})
    out = _show(tmp_path / "e.jobarchive", "e1")
    assert "error         Job validation failed\n" in out and "None" not in out
    assert "error         7001: boom\n" in _show(tmp_path / "e.jobarchive", "e2")
