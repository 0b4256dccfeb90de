"""An IBMQJob rebuilt from the archive is offline: every read answers from stored data, and
each network-only call raises IBMQJobError saying the job is offline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from qiskit.result import Result

from jobarchive import (
    IBMQJob,
    IBMQJobError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    JobStatus,
)
from jobarchive.job import ArchivedBackend

pytestmark = pytest.mark.terra046  # qiskit's Result.from_dict differs across versions

RESULT = {
    "backend_name": "ibmq_athens", "backend_version": "1.3.5", "qobj_id": "q-1", "job_id": "job1",
    "success": True, "date": "2021-05-04T11:35:02.660124",
    "results": [{"shots": 1000, "success": True, "header": {"memory_slots": 2, "creg_sizes": [["c", 2]]},
                 "data": {"counts": {"0x0": 490, "0x3": 510}}},
                {"shots": 1000, "success": True, "header": {"memory_slots": 3, "creg_sizes": [["a", 1], ["b", 2]]},
                 "data": {"counts": {"0x5": 1000}}}],
}
QOBJ = {"qobj_id": "q-1", "type": "QASM", "schema_version": "1.3.0",
        "config": {"shots": 1000, "memory_slots": 2}, "experiments": [{"instructions": []}] * 2}
STEPS = {"CREATING": "2021-05-04T11:34:58.965Z", "CREATED": "2021-05-04T11:34:59.100Z",
         "QUEUED": "2021-05-04T11:35:00Z", "RUNNING": "2021-05-04T11:35:01Z",
         "COMPLETED": "2021-05-04T11:35:03Z"}


def _record(status="COMPLETED", **extra) -> dict:
    rec = {"job_id": "job1", "creation_date": "2021-05-04T11:34:58.965Z", "status": status,
           "backend_name": "ibmq_athens", "kind": "q-object-external-storage", "name": "bell ü",
           "tags": ["exp1", "ibmq_jobset_3"], "time_per_step": STEPS, "run_mode": "dedicated",
           "share_level": "hub",
           "client_info": {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"},
           "experiment_id": "exp-42", "qobj": QOBJ, "result": RESULT, "hub_info": {"hub": {"name": "ibm-q"}}}
    rec.update(extra)
    return rec


@pytest.fixture
def done(arc):
    arc.add(_record())
    return arc.get("job1")


def test_reads_answer_from_stored_data(done, local_tz):
    job = done
    assert job.job_id() == "job1" and job.name() == "bell ü"
    assert job.tags() == ["exp1", "ibmq_jobset_3"]
    job.tags().append("mutated")
    assert job.tags() == ["exp1", "ibmq_jobset_3"]  # a copy
    created = job.creation_date()
    assert created == datetime(2021, 5, 4, 11, 34, 58, 965000, tzinfo=UTC)
    assert created.utcoffset() == local_tz  # local time, as upstream
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()
    assert not job.running() and not job.cancelled()
    steps = job.time_per_step()
    assert list(steps) == list(STEPS) and all(v.utcoffset() == local_tz for v in steps.values())
    assert steps["QUEUED"] == datetime(2021, 5, 4, 11, 35, tzinfo=UTC)
    assert job.scheduling_mode() == "dedicated" and job.share_level() == "hub"
    assert job.client_version == {"qiskit-terra": "0.16.1", "qiskit-ibmq-provider": "0.11.1"}
    assert job.experiment_id == "exp-42"
    assert job.qobj() == QOBJ
    job.qobj()["type"] = "PULSE"
    assert job.qobj() == QOBJ  # a copy
    assert job.error_message() is None
    assert isinstance(job.backend(), ArchivedBackend) and job.backend().name() == "ibmq_athens"
    assert job.hub_info_ == {"hub": {"name": "ibm-q"}}
    assert job.queue_position() is None and job.queue_info() is None
    assert repr(job) == "<IBMQJob('job1', status='COMPLETED')>"


def test_result_is_a_qiskit_result_built_from_the_stored_dict(done):
    result = done.result()
    assert isinstance(result, Result)
    assert result.get_counts(0) == {"00": 490, "11": 510}
    assert result.get_counts(1) == {"10 1": 1000}  # two registers, spaced as qiskit prints them
    assert result.job_id == "job1" and result.backend_name == "ibmq_athens"
    assert done.result() is result  # cached
    assert done.to_dict()["result"] == RESULT


@pytest.mark.parametrize("status,checks", [
    ("RUNNING", dict(running=True)), ("QUEUED", dict()), ("CANCELLED", dict(cancelled=True, final=True)),
    ("ERROR_RUNNING_JOB", dict(final=True)), ("CREATING", dict()), ("VALIDATING", dict()),
])
def test_status_predicates_offline(arc, status, checks):
    arc.add(_record(status, result=None))
    job = arc.get("job1")
    assert job.running() is checks.get("running", False)
    assert job.cancelled() is checks.get("cancelled", False)
    assert job.in_final_state() is checks.get("final", False)
    assert job.done() is False


def test_queue_info_of_a_queued_job(arc):
    arc.add(_record("QUEUED", result=None, info_queue={
        "position": 7, "status": "PENDING_IN_QUEUE", "estimated_start_time": "2021-05-04T12:00:00.000Z",
        "hub_priority": 0.5}))
    job = arc.get("job1")
    assert job.status() is JobStatus.QUEUED and job.queue_position() == 7
    info = job.queue_info()
    assert info.position == 7 and info.hub_priority == 0.5
    assert info.estimated_start_time == datetime(2021, 5, 4, 12, tzinfo=UTC)
    assert "queue position: 7" in info.format()


def test_error_message_and_failure_offline(arc):
    arc.add(_record("ERROR_RUNNING_JOB", result=None, error={"code": 7001, "message": "Qubit out of range"}))
    job = arc.get("job1")
    assert job.status() is JobStatus.ERROR
    assert job.error_message() == "Qubit out of range. Error code: 7001."
    with pytest.raises(IBMQJobFailureError, match="Job has failed: Qubit out of range"):
        job.result()


def test_cancelled_result_is_invalid_state(arc):
    arc.add(_record("CANCELLED", result=None))
    with pytest.raises(IBMQJobInvalidStateError, match="Job was cancelled"):
        arc.get("job1").result()


NETWORK_ONLY = [
    ("refresh", lambda j: j.refresh()),
    ("cancel", lambda j: j.cancel()),
    ("update_name", lambda j: j.update_name("new")),
    ("update_tags", lambda j: j.update_tags(additional_tags=["x"])),
    ("properties", lambda j: j.properties()),
]


@pytest.mark.parametrize("name,call", NETWORK_ONLY, ids=[n for n, _ in NETWORK_ONLY])
def test_network_only_calls_say_the_job_is_offline(done, name, call):
    before = done.to_dict()
    with pytest.raises(IBMQJobError, match="offline") as err:
        call(done)
    assert "job1" in str(err.value)
    assert done.to_dict() == before


def test_waiting_on_a_non_final_offline_job_says_offline(arc):
    arc.add(_record("RUNNING", result=None))
    job = arc.get("job1")
    for call in (job.wait_for_final_state, job.result, job.error_message):
        with pytest.raises(IBMQJobError, match="offline"):
            call()


def test_missing_payloads_need_the_network(arc):
    arc.add(_record(result=None, qobj=None))
    job = arc.get("job1")
    with pytest.raises(IBMQJobError, match="offline.*result"):
        job.result()
    with pytest.raises(IBMQJobError, match="offline.*qobj"):
        job.qobj()


def test_submit_is_refused(done):
    with pytest.raises(IBMQJobInvalidStateError, match="already been submitted"):
        done.submit()


def test_stored_properties_are_served_offline(arc):
    arc.add(_record(_properties={"backend_name": "ibmqx4", "qubits": []}))
    assert arc.get("job1").properties() == {"backend_name": "ibmqx4", "qubits": []}


def test_malformed_stored_result_is_a_clear_error(arc):
    arc.add(_record(result={"results": "not a list"}))
    with pytest.raises(IBMQJobError, match="malformed"):
        arc.get("job1").result()


def test_minimal_job_reads(arc):
    arc.add({"job_id": "min1", "creation_date": "2020-01-01", "status": "COMPLETED"})
    job = arc.get("min1")
    assert job.name() is None and job.tags() == [] and job.share_level() == "none"
    assert job.scheduling_mode() == "fairshare"  # upstream's default for a run job
    assert job.client_version == {} and job.time_per_step() is None and job.qobj() is None
    assert job.backend().name() is None
    with pytest.raises(IBMQJobInvalidStateError, match="unsupported format"):
        job.result()  # no kind: upstream refuses too


def test_from_dict_with_backend_object_and_constructor(arc):
    class Backend:
        def name(self):
            return "ibmq_lima"

    job = IBMQJob(Backend(), None, "ctor1", "2021-05-04T11:34:58.965Z", "COMPLETED", tags=None,
                  result=RESULT, kind="q-object")
    assert job.to_dict()["backend_name"] == "ibmq_lima" and job.tags() == []
    arc.add(job)
    assert arc.get("ctor1").to_dict() == job.to_dict()
    assert arc.get("ctor1").result().get_counts(0) == {"00": 490, "11": 510}


@pytest.mark.parametrize("big", [False, True], ids=["json-copy", "int-beyond-64-bits"])
def test_a_job_shares_nothing_with_the_dict_it_was_built_from(big):
    """from_dict and the constructor keep their own copy (the one validated): changing the
    caller's dict afterwards reaches neither to_dict() nor what Archive.add would store."""
    import copy

    record = copy.deepcopy(_record(server_extra={"n": 1 << 70} if big else {"n": 1}))
    before = IBMQJob.from_dict(copy.deepcopy(record)).to_dict()
    built = IBMQJob.from_dict(record)
    made = IBMQJob(None, None, record["job_id"], record["creation_date"], "COMPLETED",
                   result=record["result"], tags=record["tags"], server_extra=record["server_extra"])
    made_before = made.to_dict()
    record["result"]["results"][0]["data"]["counts"]["0x0"] = 1
    record["tags"].append("later")
    record["server_extra"]["n"] = 2
    assert built.to_dict() == before
    assert made.to_dict() == made_before
