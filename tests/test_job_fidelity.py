"""IBMQJob against upstream qiskit-ibmq-provider (0.11-0.20) and the recorded server data:
what a researcher reads from an archived job (errors, queue information, results, qobjs)
says what upstream said, and never crashes on shapes real results carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from jobarchive import (
    IBMQJob,
    IBMQJobApiError,
    IBMQJobError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    QueueInfo,
)
from jobarchive.record import format_date

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


# --- offline calls name the real reason ---------------------------------------------------


def test_offline_result_refresh_says_a_result_is_stored():
    """result(refresh=True) of an offline job holding its result said 'none is stored'."""
    done = IBMQJob(None, None, "job1", CREATED, "COMPLETED", kind="q-object-external-storage",
                   result={**_result([{"shots": 1, "success": True, "data": {"counts": {"0x1": 1}}}]),
                           "success": True})
    with pytest.raises(IBMQJobError, match="offline") as err:
        done.result(refresh=True)
    assert "none is stored" not in str(err.value)
    assert "again" in str(err.value) and "result()" in str(err.value)
    assert done.result().get_counts() == {"1": 1}  # the stored one is still served
    empty = IBMQJob(None, None, "job2", CREATED, "COMPLETED", kind="q-object-external-storage")
    with pytest.raises(IBMQJobError, match=r"offline.*none is stored"):
        empty.result()


# --- QueueInfo ------------------------------------------------------------------------------


def test_queue_info_reads_like_upstream(local_tz):
    """repr names the JobStatus of the queue status (PENDING_IN_QUEUE -> QUEUED) and shows the
    estimated times in local time; format() gives the JobStatus text and the times relative
    to now ('2 hrs 30 min'), as upstream does (they were the server string and UTC stamps)."""
    now = datetime.now(UTC)
    start = now + timedelta(hours=2, minutes=30, seconds=30)
    done = now - timedelta(days=3, hours=5, minutes=30)
    info = QueueInfo(position=4, status="PENDING_IN_QUEUE", estimated_start_time=format_date(start),
                     estimated_complete_time=format_date(done), hub_priority=0.61, job_id="job1")
    text = repr(info)
    assert text.startswith("<QueueInfo(job_id='job1', _status='QUEUED', estimated_start_time='")
    local_start = start.astimezone(timezone(local_tz)).isoformat()
    assert f"estimated_start_time='{local_start}'" in text and "+05:30'" in text
    assert "position=4" in text and "hub_priority=0.61" in text and "group_priority=None" in text
    lines = info.format().splitlines()
    assert lines[0] == "Job job1 queue information:"
    assert lines[1:4] == ["    queue position: 4", "    status: job is queued",
                          "    estimated start time: 2 hrs 30 min"]
    assert lines[4] == "    estimated completion time: 3 days 5 hrs ago"
    assert lines[5:] == ["    hub priority: 0.61", "    group priority: unknown",
                         "    project priority: unknown"]
    bare = QueueInfo(status="SOMETHING_NEW")  # unknown to the mapping: shown as sent
    assert "_status='SOMETHING_NEW'" in repr(bare) and "status: SOMETHING_NEW" in bare.format()
    assert "estimated start time: unknown" in bare.format()
    assert "_status='unknown'" in repr(QueueInfo())


# --- the backend of a job built from upstream's keyword arguments ---------------------------

# Reference §1.4: the kwargs upstream's client builds IBMQJob from (less backend, api_client).
UPSTREAM_KWARGS = {
    "job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
    "status": "COMPLETED", "kind": "q-object-external-storage", "name": "bell-run",
    "tags": ["exp1"], "run_mode": "fairshare", "share_level": "none",
    "client_info": {"name": "qiskit", "version": "0.23.0"}, "error": None, "result": None,
    "qobj": None, "_backend_info": {"name": "ibmq_athens", "id": "5e8f01a2"},
    "hub_info": {"hub": {"name": "ibm-q"}, "group": {"name": "open"}, "project": {"name": "main"}},
    "user_id": "5c4a77ef",
}


def test_the_constructor_takes_the_backend_name_from_upstreams_backend_info(arc):
    """IBMQJob(None, None, **kwargs) with upstream's mapped kwargs recorded no backend_name
    (backend().name() None, query(backend_name=...) missed it) although ``_backend_info``
    names it, as from_server() reads it from the same document."""
    job = IBMQJob(None, None, **UPSTREAM_KWARGS)
    assert job.to_dict()["backend_name"] == "ibmq_athens"
    assert job.backend().name() == "ibmq_athens"
    assert job._backend_info_ == {"name": "ibmq_athens", "id": "5e8f01a2"}  # kept as sent
    assert IBMQJob.from_dict(job.to_dict()).to_dict() == job.to_dict()
    arc.add(job)
    assert list(arc.query(backend_name="ibmq_athens")["job_id"]) == [job.job_id()]
    # a backend object or an explicit backend_name still wins
    named = IBMQJob(None, None, **{**UPSTREAM_KWARGS, "backend_name": "ibmq_lima"})
    assert named.backend().name() == "ibmq_lima"


def test_from_dict_takes_the_backend_name_from_upstreams_backend_info(arc):
    """from_dict()/Archive.add() of upstream's kwargs shape (reference §1.4: 'exactly what
    from_dict would need') archive the job without its backend name."""
    assert IBMQJob.from_dict(UPSTREAM_KWARGS).backend().name() == "ibmq_athens"
    arc.add(UPSTREAM_KWARGS)
    assert list(arc.query(backend_name="ibmq_athens")["job_id"]) == [UPSTREAM_KWARGS["job_id"]]


# --- results written by one qiskit, read by the other ---------------------------------------

# What qiskit 2.x's Result.to_dict() writes for a local run (BasicSimulator, memory=True):
# no qobj_id (2.x dropped it), header and date null.
QISKIT2_RESULT = {
    "backend_name": "basic_simulator", "backend_version": "0.1", "date": None, "header": None,
    "job_id": "c3cdb9d0-bb20-4666-83a3-3b8a5588dcad", "status": "COMPLETED", "success": True,
    "time_taken": 0.0006,
    "results": [{"shots": 4, "success": True, "meas_level": 2, "status": "DONE", "name": "bell",
                 "seed_simulator": 3, "time_taken": 0.0002,
                 "header": {"name": "bell", "n_qubits": 2, "memory_slots": 2,
                            "creg_sizes": [["c", 2]], "qreg_sizes": [["q", 2]]},
                 "data": {"counts": {"0x0": 3, "0x3": 1}, "memory": ["0x0", "0x3", "0x0", "0x0"]}}],
}


def test_a_result_archived_from_qiskit_2_reads_on_every_qiskit(arc):
    """A result archived from a qiskit 2.x Result object has no qobj_id, which qiskit-terra
    0.46's Result requires: result() said the stored result was malformed there (an archive
    written in one environment could not be read in the other). The record stays as given."""
    job = IBMQJob(None, None, "local-1", CREATED, "COMPLETED", kind="q-object",
                  result=QISKIT2_RESULT)
    arc.add(job)
    back = arc.get("local-1")
    result = back.result()
    assert result.get_counts(0) == {"00": 3, "11": 1}
    assert result.get_memory("bell") == ["00", "11", "00", "00"]
    assert result.job_id == QISKIT2_RESULT["job_id"] and result.success is True
    assert back.to_dict()["result"] == QISKIT2_RESULT and "qobj_id" not in back.to_dict()["result"]


def test_a_result_that_does_not_parse_on_a_job_without_kind_is_an_unsupported_format():
    """Reference §4.5: a result that Result.from_dict refuses is IBMQJobApiError, but
    IBMQJobInvalidStateError ('unsupported format') when the job has no kind (pre-Qobj
    jobs); both were IBMQJobApiError."""
    old = IBMQJob(None, None, "old1", CREATED, "COMPLETED", result={"results": "not a list"})
    with pytest.raises(IBMQJobInvalidStateError, match="unsupported format"):
        old.result()
    assert old.to_dict()["result"] == {"results": "not a list"}  # kept as given
    new = IBMQJob(None, None, "new1", CREATED, "COMPLETED", kind="q-object",
                  result={"results": "not a list"})
    with pytest.raises(IBMQJobApiError, match="malformed"):
        new.result()


def test_partial_result_of_an_archived_failed_job_without_one_is_a_failure(arc):
    """result(partial=True) of an archived ERROR_RUNNING_JOB holding no partial result raised
    the bare 'offline' IBMQJobError, while result() raised IBMQJobFailureError: a loop over
    failed jobs catching IBMQJobFailureError (upstream's answer when the server holds no
    partial result, reference §4.5) stopped there."""
    arc.add(_failed(None, {"code": 8004, "message": "Backend went offline during execution"}))
    job = arc.get("job1")
    for partial in (False, True):
        with pytest.raises(IBMQJobFailureError,
                           match="Job has failed: Backend went offline during execution"):
            job.result(partial=partial)
    # a stored partial result is still served, and a DONE job without one still needs the network
    arc.add(_failed(_result([{"shots": 4, "success": True, "data": {"counts": {"0x1": 4}}}]),
                    status="ERROR_RUNNING_JOB").to_dict() | {"job_id": "job2"})
    assert arc.get("job2").result(partial=True).get_counts(0) == {"1": 4}
    arc.add(IBMQJob(None, None, "job3", CREATED, "COMPLETED", kind="q-object-external-storage"))
    with pytest.raises(IBMQJobError, match="offline") as err:
        arc.get("job3").result()
    assert not isinstance(err.value, IBMQJobFailureError)


# --- a share level the server did not send ----------------------------------------------------


def test_a_missing_share_level_is_recorded_alike_by_from_server_and_refresh(real_corpus, arc):
    """Real full documents carry no shareLevel (the 2021 jobDataUploaded answer has
    timePerStep, so sync takes it whole). from_server() kept None (the record keeps what was
    sent) but refresh_from() wrote 'none', so the same document archived as None by
    add(from_server(doc)) and as 'none' by a sync. Both keep None now; share_level() and the
    index answer 'none' for it."""
    full = next(e["document"] for e in real_corpus
                if e["provenance"]["path"] == "test/records/submit.json"
                and e["provenance"].get("wrapped_in") == "job" and "timePerStep" in e["document"]
                and e["document"]["id"] == "609131631355905234476870")
    assert "shareLevel" not in full
    built = IBMQJob.from_server(full)
    refreshed = IBMQJob.from_server({**full, "shareLevel": "hub"})
    refreshed.refresh_from(full)
    assert built.to_dict() == refreshed.to_dict()
    assert built.to_dict()["share_level"] is None
    assert built.share_level() == refreshed.share_level() == "none"
    arc.add(refreshed)
    assert list(arc.query(share_level="none")["job_id"]) == [full["id"]]
