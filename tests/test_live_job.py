"""Every IBMQJob method against the emulator over real sockets, error paths included."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

import jobarchive
from jobarchive import (
    IBMQBackendApiError,
    IBMQBackendJobLimitError,
    IBMQBackendValueError,
    IBMQJob,
    IBMQJobApiError,
    IBMQJobError,
    IBMQJobFailureError,
    IBMQJobInvalidStateError,
    IBMQJobTimeoutError,
    QueueInfo,
)
from jobarchive.api import ApiClient
from jobarchive.qobj import qobj_from_circuits

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

UNKNOWN_ID = "0123456789abcdef01234567"
FAST = 0.01  # polling interval for tests


def _bell(shots: int = 256) -> dict:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits(qc, shots=shots, seed_simulator=7)


@pytest.fixture(scope="module")
def emu():
    # Emulated seconds run 200x faster: a submitted job moves through its states in ~0.2 s.
    with Emulator(seed_jobs=120, seed=17, time_scale=200.0) as server:
        yield server


@pytest.fixture(scope="module")
def slow_emu():
    # A frozen clock (tests move it with emu.advance): jobs stay where they are.
    with Emulator(seed_jobs=0, seed_active=30, seed=1, time_scale=1e-6) as server:
        yield server


@pytest.fixture(scope="module")
def provider(emu):
    return jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)


@pytest.fixture(scope="module")
def slow_provider(slow_emu):
    return jobarchive.connect(slow_emu.url, slow_emu.token, backoff_factor=0.01)


def _first(emu, predicate):
    doc = next((d for d in emu.job_docs() if predicate(d)), None)
    if doc is None:
        pytest.skip("the seeded history has no such job")
    return doc


def _simulator(provider):
    sims = [b for b in provider.backends() if b.configuration().get("simulator")]
    return sims[0] if sims else provider.backends()[0]


# --- a finished job ----------------------------------------------------------------------


def test_a_done_job_reads_everything(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")
    job = provider.retrieve_job(doc["id"])
    emu.reset_stats()
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()
    assert not job.running() and not job.cancelled()
    assert emu.stats()["total"] == 0, "a final status is answered from the cache"

    result = job.result()
    assert job.to_dict()["result"] == emu.result_of(doc["id"])
    assert result.get_counts(0) is not None
    served = emu.stats()["total"]
    assert job.result() is result and emu.stats()["total"] == served, "the result is cached"
    job.result(refresh=True)
    assert emu.stats()["total"] > served, "refresh=True downloads again"

    assert job.qobj() == emu.qobj_of(doc["id"])
    assert job.error_message() is None
    assert job.queue_position() is None and job.queue_info() is None
    steps = job.time_per_step()
    assert steps and "COMPLETED" in steps and steps["COMPLETED"].tzinfo is not None
    assert job.scheduling_mode() == doc.get("runMode", "fairshare")
    assert job.share_level() == doc.get("shareLevel", "none")
    assert isinstance(job.client_version, dict)
    assert job.creation_date().tzinfo is not None
    props = job.properties()
    assert props is None or isinstance(props, dict)
    with pytest.raises(IBMQJobInvalidStateError, match=f"The job {doc['id']} has already been submitted."):
        job.submit()

    # What the archive stores: the server document, mapped, plus result and qobj.
    want = IBMQJob.from_server(emu.job_doc(doc["id"])).to_dict()
    got = job.to_dict()
    assert got.pop("result") == emu.result_of(doc["id"])
    assert got.pop("qobj") == emu.qobj_of(doc["id"])
    want.pop("result"), want.pop("qobj")
    assert got == want
    assert IBMQJob.from_dict(job.to_dict()).to_dict() == job.to_dict()


def test_result_of_a_cancelled_job(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "CANCELLED")
    job = provider.retrieve_job(doc["id"])
    assert job.cancelled() and job.status() is JobStatus.CANCELLED
    with pytest.raises(IBMQJobInvalidStateError, match=re.escape(
            f"Unable to retrieve result for job {doc['id']}. Job was cancelled.")):
        job.result()
    assert job.error_message() is None


def test_result_of_a_failed_job_with_and_without_partial(emu, provider):
    failed = [d for d in emu.job_docs() if d["status"] == "ERROR_RUNNING_JOB"]
    with_partial = [d for d in failed if (emu.result_of(d["id"]) or {}).get("results")]
    without = [d for d in failed if d not in with_partial]
    assert with_partial and without, "the seeded history should hold both kinds"

    for doc in without[:2]:
        job = provider.retrieve_job(doc["id"])
        assert job.status() is JobStatus.ERROR
        err = doc["error"]
        message = job.error_message()
        assert message == f"{err['message']}. Error code: {err['code']}."
        suffix = (". Use job.error_message() to get more details" if "\n" in message
                  else ": " + message)
        for partial in (False, True):
            with pytest.raises(IBMQJobFailureError, match=re.escape(
                    f"Unable to retrieve result for job {doc['id']}. Job has failed{suffix}")):
                job.result(partial=partial)

    for doc in with_partial[:2]:
        job = provider.retrieve_job(doc["id"])
        with pytest.raises(IBMQJobFailureError, match=re.escape(
                f"Unable to retrieve result for job {doc['id']}. Job has failed. "
                "Use job.error_message() to get more details")):
            job.result()
        assert job.error_message().startswith("The following experiments failed:\nExperiment ")
        result = job.result(partial=True)
        want = emu.result_of(doc["id"])
        assert result.success is False and len(result.results) == len(want["results"])
        assert job.to_dict()["result"] == want


def test_a_job_that_failed_validation_never_downloads_a_result(emu, provider):
    doc = _first(emu, lambda d: d["status"] in ("ERROR_VALIDATING_JOB", "ERROR_CREATING_JOB"))
    job = provider.retrieve_job(doc["id"])
    emu.reset_stats()
    with pytest.raises(IBMQJobFailureError):
        job.result(partial=True)
    assert "resultDownloadUrl" not in str(emu.stats())
    assert job.error_message()


# --- a submitted job ---------------------------------------------------------------------


def test_run_wait_and_read_a_submitted_job(slow_emu, slow_provider):
    backend = _simulator(slow_provider)
    qobj = _bell()
    job = backend.run(qobj, job_name="bell-run", job_tags=["exp1", "ibmq_jobset_abc_0"],
                      job_share_level="project")
    assert job.job_id() in {d["id"] for d in slow_emu.job_docs()}
    assert job.name() == "bell-run" and set(job.tags()) == {"exp1", "ibmq_jobset_abc_0"}
    assert job.backend() is backend
    assert not job.in_final_state()  # the clock is frozen
    seen = []

    def on_change(job_id, status, same_job, queue_info=None):
        seen.append((job_id, status, same_job, queue_info))
        slow_emu.advance(0.2)  # the job moves only when we say so

    # wait=0: the callback fires on every poll, so each poll moves the clock on.
    job.wait_for_final_state(timeout=60, wait=0, callback=on_change, poll_interval=FAST)
    assert job.status() is JobStatus.DONE
    statuses = [s for _, s, _, _ in seen]
    assert {JobStatus.INITIALIZING, JobStatus.VALIDATING, JobStatus.QUEUED,
            JobStatus.RUNNING} <= set(statuses)
    for job_id, status, same_job, info in seen:
        assert job_id == job.job_id() and same_job is job
        assert status not in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)
        assert info is None or (status is JobStatus.QUEUED and isinstance(info, QueueInfo))
    counts = job.result().get_counts()
    assert sum(counts.values()) == 256 and set(counts) <= {"00", "11"}
    assert job.qobj() == qobj
    assert job.share_level() == "project"
    assert job.scheduling_mode() == "fairshare"
    assert job.client_version == {"jobarchive": jobarchive.__version__}
    steps = job.time_per_step()
    assert list(steps)[0] == "CREATING" and "COMPLETED" in steps


def test_wait_for_final_state_calls_back_on_changes_only(slow_emu, slow_provider):
    job = _simulator(slow_provider).run(_bell(32))
    stop = threading.Event()

    def tick():  # a clock that moves while the client polls
        while not stop.wait(0.002):
            slow_emu.advance(0.2)

    seen = []
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        job.wait_for_final_state(timeout=60, callback=lambda *a, **k: seen.append(
            (a[1], k["queue_info"].position if k["queue_info"] else None)),
            poll_interval=FAST)
    finally:
        stop.set()
        ticker.join()
    assert job.in_final_state() and seen
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), "only changes are reported"
    assert all(s not in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR) for s, _ in seen)


def test_result_waits_with_timeout_and_wait(emu, provider):
    job = _simulator(provider).run(_bell(64))
    result = job.result(timeout=60, wait=FAST)
    assert sum(result.get_counts().values()) == 64


def test_malformed_qobj_ends_in_validation_error(emu, provider):
    job = _simulator(provider).run({"qobj_id": "x", "type": "QASM", "experiments": "nonsense"})
    job.wait_for_final_state(timeout=60, poll_interval=FAST)
    assert job.status() is JobStatus.ERROR
    assert job._record["status"] == "ERROR_VALIDATING_JOB"
    with pytest.raises(IBMQJobFailureError, match="Job has failed"):
        job.result()


def test_a_queued_job_reports_queue_info(slow_emu, slow_provider):
    doc = _first(slow_emu, lambda d: d["status"] == "QUEUED" and d.get("infoQueue"))
    job = slow_provider.retrieve_job(doc["id"])
    info = job.queue_info()
    assert isinstance(info, QueueInfo) and info.job_id == doc["id"]
    assert info.position == doc["infoQueue"]["position"]
    assert info.hub_priority == doc["infoQueue"]["hubPriority"]
    assert info.estimated_start_time is not None and info.estimated_start_time.tzinfo is not None
    assert job.queue_position() == info.position
    assert job.queue_position(refresh=True) == info.position
    assert "queue information" in info.format() and doc["id"] in repr(info)
    assert job.status() is JobStatus.QUEUED and not job.in_final_state()


def test_timeouts_then_cancel_an_active_job(slow_emu, slow_provider):
    job = _simulator(slow_provider).run(_bell())
    assert not job.in_final_state()
    seen = []
    with pytest.raises(IBMQJobTimeoutError, match=re.escape(
            f"Timeout while waiting for job {job.job_id()}.")):
        job.wait_for_final_state(timeout=0.05, callback=lambda *a, **k: seen.append(a[1]),
                                 poll_interval=FAST)
    assert seen and all(s not in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)
                        for s in seen)
    with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting"):
        job.result(timeout=0.05, wait=FAST)
    assert job.cancel() is True
    assert job.status() is JobStatus.CANCELLED and job.cancelled()
    assert slow_emu.job_doc(job.job_id())["status"] == "CANCELLED"
    with pytest.raises(IBMQJobInvalidStateError, match="Job was cancelled."):
        job.result()


def test_cancelling_a_final_job_is_refused(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")
    job = provider.retrieve_job(doc["id"])
    with pytest.raises(IBMQJobApiError, match=re.escape(
            f"Unexpected error when cancelling job {doc['id']}: 400 Client Error")):
        job.cancel()
    assert job.status() is JobStatus.DONE


# --- name and tags -----------------------------------------------------------------------


def test_update_name(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")
    job = provider.retrieve_job(doc["id"])
    assert job.update_name("renamed") == "renamed" and job.name() == "renamed"
    assert emu.job_doc(doc["id"])["name"] == "renamed"
    assert job.update_name("") == ""
    for bad in (5, None, ["x"]):
        with pytest.raises(IBMQJobInvalidStateError, match=re.escape(
                f'"{bad}" of type "{type(bad)}" is not a valid job name. '
                "The job name needs to be a string.")):
            job.update_name(bad)


def test_update_tags_replace_then_add_then_remove(emu, provider):
    backend = _simulator(provider)
    job = backend.run(_bell(16), job_tags=["a", "b", "ibmq_jobset_x_1"])

    def server_tags():
        return set(emu.job_doc(job.job_id())["tags"])

    assert set(job.update_tags(replacement_tags=["c"])) == {"c", "ibmq_jobset_x_1"}
    assert server_tags() == {"c", "ibmq_jobset_x_1"}
    assert set(job.update_tags(additional_tags=["d", "e"])) == {"c", "d", "e", "ibmq_jobset_x_1"}
    got = job.update_tags(removal_tags=["c", "ibmq_jobset_x_1", "not-there"])
    assert set(got) == {"d", "e", "ibmq_jobset_x_1"} == server_tags()
    got = job.update_tags(replacement_tags=["f"], additional_tags=["g"], removal_tags=["f"])
    assert set(got) == {"g", "ibmq_jobset_x_1"} == server_tags()
    assert set(job.update_tags(additional_tags=["h"], removal_tags=["h"])) == {"g", "ibmq_jobset_x_1"}
    assert set(job.update_tags(replacement_tags=[])) == {"ibmq_jobset_x_1"}
    with pytest.raises(IBMQJobInvalidStateError, match="none of the parameters are specified"):
        job.update_tags()
    for bad in ({"replacement_tags": ["ok", 3]}, {"additional_tags": "x"},
                {"removal_tags": [None]}):
        with pytest.raises(IBMQJobInvalidStateError, match="job_tags needs to be a list or strings."):
            job.update_tags(**bad)
    assert job.to_dict()["tags"] == job.tags()


def test_update_checks_the_servers_echo(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")

    class LyingEcho(ApiClient):
        def job_update_attribute(self, job_id, attr, value):
            answer = super().job_update_attribute(job_id, attr, value)
            answer.pop(attr, None)
            return answer

    real = provider.api_client
    client = LyingEcho(real.http_url, real._token, transport=real.transport)
    job = IBMQJob.from_server(emu.job_doc(doc["id"]), api_client=client)
    with pytest.raises(IBMQJobApiError, match=re.escape(
            f"An unexpected error occurred when updating the name for job {doc['id']}. "
            "The name was not updated for the job.")):
        job.update_name("lie")
    with pytest.raises(IBMQJobApiError, match=re.escape(
            f"An unexpected error occurred when updating the tags for job {doc['id']}. "
            "The tags were not updated for the job.")):
        job.update_tags(additional_tags=["lie"])


def test_backend_run_validates_its_input(provider):
    backend = _simulator(provider)
    with pytest.raises(IBMQBackendValueError, match="job_tags needs to be a list or strings."):
        backend.run(_bell(), job_tags="x")
    with pytest.raises(IBMQBackendValueError, match="share level"):
        backend.run(_bell(), job_share_level="everyone")


# --- a job id that does not exist, a bad token, an offline job ----------------------------


def test_a_job_id_that_does_not_exist(emu, provider):
    with pytest.raises(IBMQBackendApiError, match=f"Failed to get job {UNKNOWN_ID}: .*3250"):
        provider.retrieve_job(UNKNOWN_ID)
    job = IBMQJob(None, provider.api_client, UNKNOWN_ID, "2021-01-01T00:00:00Z", "QUEUED",
                  kind="q-object-external-storage")
    for call in (job.status, job.refresh, job.cancel, job.properties,
                 lambda: job.update_name("x"), lambda: job.update_tags(additional_tags=["x"]),
                 lambda: job.result(timeout=1, wait=FAST)):
        with pytest.raises(IBMQJobApiError, match="3250"):
            call()


def test_a_bad_token_surfaces_as_a_job_api_error(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "QUEUED" or d["status"] == "COMPLETED")
    bad = ApiClient(provider.api_client.http_url, "wrong-access-token", max_retries=0)
    job = IBMQJob.from_server(doc, api_client=bad)
    with pytest.raises(IBMQJobApiError, match="401") as info:
        job.refresh()
    assert "wrong-access-token" not in str(info.value)


def test_an_offline_job_says_why_it_cannot_reach_the_server(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")
    live = provider.retrieve_job(doc["id"])
    live.result()
    offline = IBMQJob.from_dict(live.to_dict())
    assert offline.result().to_dict()["results"] == live.result().to_dict()["results"]
    with pytest.raises(IBMQJobError, match="offline"):
        offline.refresh()


# --- submission edge cases, refresh ------------------------------------------------------


def test_a_failed_upload_cancels_the_created_job(emu, provider):
    backend = _simulator(provider)
    before = {d["id"] for d in emu.job_docs()}
    emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_upload"], "seed": 2})
    try:
        with pytest.raises(IBMQBackendApiError, match="Error submitting job: 503"):
            backend.run(_bell())
    finally:
        emu.set_faults(None)
    created = [d for d in emu.job_docs() if d["id"] not in before]
    assert len(created) == 1 and created[0]["status"] == "CANCELLED"


def test_the_job_limit_is_its_own_error():
    with Emulator(seed_jobs=0, seed=3, time_scale=0.001, job_limit=1) as server:
        backend = _simulator(jobarchive.connect(server.url, server.token))
        first = backend.run(_bell())
        with pytest.raises(IBMQBackendJobLimitError, match="3458"):
            backend.run(_bell())
        assert first.cancel()
        backend.run(_bell())  # room again


def test_refresh_picks_up_changes_made_elsewhere(emu, provider):
    doc = _first(emu, lambda d: d["status"] == "COMPLETED")
    job = provider.retrieve_job(doc["id"])
    emu.update_job(doc["id"], name="changed-elsewhere", tags=["x", "y"])
    assert job.name() != "changed-elsewhere"
    job.refresh()
    assert job.name() == "changed-elsewhere" and job.tags() == ["x", "y"]
    assert job.to_dict()["tags"] == ["x", "y"]


def test_backend_properties_now_and_in_the_past(provider):
    backend = _simulator(provider)
    now = backend.properties()
    past = backend.properties(datetime=datetime(2021, 6, 1, tzinfo=UTC))
    for props in (now, past):
        assert props is None or props["backend_name"] == backend.name()


def _fake_clock(provider):
    """Backoff sleeps advance a fake clock that the client's deadline reads (no real waiting)."""
    transport = provider.api_client.transport
    now = [0.0]
    transport.clock = lambda: now[0]
    transport.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    transport.random = lambda: 0.5  # no jitter: backoff 0.5 s, 1 s, 2 s...
    return provider


def test_wait_timeout_bounds_the_retries_of_a_failing_status_request():
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as server:
        provider = _fake_clock(jobarchive.connect(server.url, server.token))
        job = _simulator(provider).run(_bell())
        server.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["job_status"]})
        server.reset_stats()
        # Was IBMQJobApiError once the whole retry ladder (5 retries, 15 s of backoff) failed.
        with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job"):
            job.wait_for_final_state(timeout=1.0, poll_interval=FAST)
        assert server.stats()["job_status"] == 2  # no retry is due after the deadline
        server.set_faults(None)
        job.cancel()
        job.wait_for_final_state(timeout=1.0, poll_interval=FAST)  # the deadline is gone
        assert job.cancelled()


def test_wait_timeout_cuts_a_slow_status_request():
    from jobarchive.api import RequestDeadlineError

    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as server:
        provider = jobarchive.connect(server.url, server.token)
        job = _simulator(provider).run(_bell())
        server.set_faults({"rate": 1.0, "kinds": ["latency"], "latency": 2.0,
                           "endpoints": ["job_status"]})
        with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job") as info:
            job.wait_for_final_state(timeout=0.2, poll_interval=FAST)
        # The status request was cut at the deadline, not waited for (2 s, or 120 s).
        assert isinstance(info.value.__cause__.__cause__, RequestDeadlineError)
        with pytest.raises(IBMQJobTimeoutError, match="Timeout while waiting for job") as info:
            job.result(timeout=0.2, wait=FAST)  # result() waits the same way
        assert isinstance(info.value.__cause__.__cause__, RequestDeadlineError)
        server.set_faults(None)
