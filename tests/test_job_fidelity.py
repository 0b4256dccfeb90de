"""IBMQJob against upstream qiskit-ibmq-provider (0.11-0.20) and the recorded server data:
what a researcher reads from an archived job (errors, queue information, results, qobjs)
says what upstream said, and never crashes on shapes real results carry."""

from __future__ import annotations

import pytest

from jobarchive import IBMQJob, IBMQJobFailureError

pytestmark = pytest.mark.terra046  # Result.from_dict differs across qiskit versions

CREATED = "2021-05-04T11:34:58.965Z"


def _result(results: list[dict], **top) -> dict:
    return {"backend_name": "ibmq_athens", "backend_version": "1.3.5", "qobj_id": "q-1",
            "job_id": "job1", "success": False, "results": results, **top}


def _failed(result: dict | None, error: dict | None = None, status: str = "ERROR_RUNNING_JOB") -> IBMQJob:
    return IBMQJob(None, None, "job1", CREATED, status, kind="q-object-external-storage",
                   result=result, error=error)


# --- error_message() -------------------------------------------------------------------


def test_a_failed_experiment_without_a_status_is_reported_not_a_crash():
    """A failed experiment whose result carries no ``status`` (qiskit's ExperimentResult then
    has no such attribute) made error_message(), and so result(), raise AttributeError."""
    job = _failed(_result([
        {"shots": 4, "success": True, "data": {"counts": {"0x0": 4}}},
        {"shots": 4, "success": False, "data": {}},
    ]))
    message = job.error_message()
    assert message.startswith("The following experiments failed:\nExperiment 1: ")
    assert "Experiment 0" not in message
    with pytest.raises(IBMQJobFailureError, match="Use job.error_message"):
        job.result()
    partial = job.result(partial=True)
    assert partial.success is False and partial.get_counts(0) == {"0": 4}
