"""IBMQJob results and properties as upstream hands them out: qiskit's own Result objects
archive exactly, result() decodes like the client (reference §4.6) and empty stored
properties read as None (§3.2). Real qiskit objects, real archives in tmp_path."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.providers.basic_provider import BasicSimulator
from qiskit.result import Result

import jobarchive
from jobarchive import Archive, IBMQJob, JobValidationError
from jobarchive.record import normalize

CLIENT_INFO = {"name": "qiskit-terra,qiskit-ibmq-provider", "version": "0.16.1,0.11.1"}
CLIENT_VERSION = {"qiskit-terra": "0.16.1", "qiskit-ibmq-provider": "0.11.1"}
COUNTS_RESULT = {
    "backend_name": "ibmq_athens", "backend_version": "1.3.5", "qobj_id": "q-1", "job_id": "job1",
    "success": True, "date": "2021-05-04T11:35:02.660124Z",
    "results": [{"shots": 8, "success": True, "header": {"memory_slots": 1},
                 "data": {"counts": {"0x0": 3, "0x1": 5}}}],
}


def _job(job_id: str, result, **extra) -> IBMQJob:
    return IBMQJob(None, None, job_id, "2021-05-04T11:34:58.965Z", "COMPLETED",
                   kind="q-object-external-storage", result=result, **extra)


def _json_types(value, where="result"):
    """Every (path, type) in ``value`` that is not a plain JSON type."""
    if type(value) is dict:
        return [bad for k, v in value.items() for bad in _json_types(v, f"{where}.{k}")]
    if type(value) is list:
        return [bad for i, v in enumerate(value) for bad in _json_types(v, f"{where}.{i}")]
    if value is None or type(value) in (str, int, float, bool):
        return []
    return [(where, type(value).__name__)]


# --- A: a qiskit Result object is made JSON-only, exactly ------------------------------------


def test_a_basic_simulator_result_archives_exactly(arc):
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    res = BasicSimulator().run(qc, shots=64, memory=True).result()  # it draws a numpy seed
    raw = res.to_dict()["results"][0]
    assert isinstance(raw["seed_simulator"], np.integer)  # what made IBMQJob(result=res) fail

    job = _job("sim1", res)
    record = job.to_dict()
    assert _json_types(record["result"]) == []
    stored = record["result"]["results"][0]
    assert type(stored["seed_simulator"]) is int and stored["seed_simulator"] == int(raw["seed_simulator"])
    assert type(stored["meas_level"]) is int and stored["meas_level"] == int(raw["meas_level"])
    assert IBMQJob.from_dict(record).to_dict() == record == normalize(record)

    arc.add(job)
    back = arc.get("sim1")
    assert back.to_dict() == IBMQJob.from_dict(record).to_dict()
    result = back.result()
    assert result.get_counts() == res.get_counts()
    assert result.get_memory() == res.get_memory()
    assert result.results[0].seed_simulator == raw["seed_simulator"]


def test_numpy_arrays_complex_enums_and_dates_become_plain_json(arc):
    amplitudes = np.array([0.6, 0.8j], dtype=np.complex128)
    res = Result.from_dict({
        "backend_name": "sim", "backend_version": "1", "qobj_id": "q", "job_id": "np1", "success": True,
        "date": datetime(2021, 5, 4, 17, 5, 2, 660124, tzinfo=UTC),
        "results": [{"shots": np.int64(1), "success": np.bool_(True),
                     "data": {"statevector": amplitudes, "counts": {"0x1": np.uint16(1)}},
                     "time_taken": np.float32(0.1), "qubits": np.arange(2)}],
    })
    record = _job("np1", res).to_dict()
    assert _json_types(record["result"]) == []
    exp = record["result"]["results"][0]
    assert exp["data"]["statevector"] == [[0.6, 0.0], [0.0, 0.8]]  # the wire format of complex
    assert exp["time_taken"] == float(np.float32(0.1))  # the float32's exact value
    assert exp["qubits"] == [0, 1] and exp["shots"] == 1 and exp["success"] is True
    assert record["result"]["date"] == "2021-05-04T17:05:02.660124Z"

    arc.add(record)
    assert arc.get("np1").to_dict() == IBMQJob.from_dict(record).to_dict()
    assert np.allclose(arc.get("np1").result().get_statevector(), amplitudes)


def test_a_result_from_result_archives_again(arc, local_tz):
    arc.add(_job("r1", COUNTS_RESULT, client_info=CLIENT_INFO))
    first = arc.get("r1").result()  # date is now a local datetime
    again = _job("r2", first).to_dict()["result"]
    assert again["date"] == "2021-05-04T11:35:02.660124Z"
    exp, sent = again["results"][0], COUNTS_RESULT["results"][0]
    assert exp["data"] == sent["data"] and exp["header"] == sent["header"] and exp["meas_level"] == 2


def test_a_users_dict_with_numpy_values_is_still_refused(arc):
    # Records are JSON-only (DESIGN): a hand-made dict is stored as given or refused, never
    # silently rewritten; IBMQJob(result=<Result>) is the way to hand over qiskit's object.
    res = BasicSimulator().run(QuantumCircuit(1, 1), shots=4).result()
    with pytest.raises(JobValidationError, match=r"result\.results\.0\.seed_simulator.*not a JSON type"):
        arc.add({"job_id": "u1", "creation_date": "2021-01-01T00:00:00Z", "status": "COMPLETED",
                 "kind": "q-object-external-storage", "result": res.to_dict()})
    assert len(arc.query(limit=None)) == 0


# --- B: empty stored properties are None ---------------------------------------------------


def test_empty_stored_calibration_reads_as_none(arc, real_corpus):
    jobs = {}
    for entry in real_corpus:
        if entry["document"].get("calibration") == {}:
            try:
                jobs[entry["document"]["id"]] = IBMQJob.from_server(entry["document"])
            except JobValidationError:
                continue  # placeholder documents (e.g. creationDate "dummy...")
    assert jobs, "the corpus has documents with an empty calibration"
    for job_id, job in jobs.items():
        assert job.properties() is None
        arc.add(job)
        back = arc.get(job_id)
        assert back.properties() is None
        assert back.to_dict() == job.to_dict() and back.to_dict()["_properties"] == {}  # record kept


def test_stored_null_properties_read_as_none_and_real_ones_as_given():
    base = {"id": "5b633f94f9b81b00364af0dd", "status": "COMPLETED",
            "creationDate": "2018-08-02T17:29:56.388Z"}
    assert IBMQJob.from_server({**base, "calibration": None}).properties() is None
    props = {"backend_name": "ibmqx4", "qubits": [[{"name": "T1", "value": 40.1}]]}
    assert IBMQJob.from_server({**base, "calibration": props}).properties() == props


# --- C: result() decodes like the client: client_version in, date in local time ------------


def test_offline_result_has_local_date_and_client_version(arc, local_tz):
    arc.add(_job("c1", COUNTS_RESULT, client_info=CLIENT_INFO))
    job = arc.get("c1")
    result = job.result()
    assert isinstance(result.date, datetime)
    assert result.date == datetime(2021, 5, 4, 11, 35, 2, 660124, tzinfo=UTC)
    assert result.date.utcoffset() == local_tz
    assert result.client_version == CLIENT_VERSION == job.client_version
    assert result.get_counts() == {"0": 3, "1": 5}
    # the record is what the server sent, untouched
    assert job.to_dict()["result"] == COUNTS_RESULT
    assert arc.get("c1").to_dict() == IBMQJob.from_dict(job.to_dict()).to_dict()


def test_a_naive_result_date_is_utc_and_an_unreadable_one_is_kept(arc, local_tz):
    naive = {**COUNTS_RESULT, "date": "2021-05-04T11:35:02.660124"}  # as 2021 results carry it
    arc.add(_job("n1", naive))
    result = arc.get("n1").result()
    assert result.date == datetime(2021, 5, 4, 11, 35, 2, 660124, tzinfo=UTC)
    assert result.date.utcoffset() == local_tz and result.client_version == {}
    arc.add(_job("n2", {**COUNTS_RESULT, "date": "yesterday"}))
    result = arc.get("n2").result()
    assert result.date == "yesterday" and result.get_counts() == {"0": 3, "1": 5}


def test_a_real_inline_result_date_is_local(arc, real_corpus, local_tz):
    doc = next(e["document"] for e in real_corpus if e["document"]["id"] == "5ceeb008918fd00073904714")
    arc.add(IBMQJob.from_server(doc))
    job = arc.get(doc["id"])
    result = job.result()
    assert result.date == datetime(2019, 5, 29, 16, 16, 10, tzinfo=UTC)
    assert result.date.utcoffset() == local_tz
    assert result.client_version == job.client_version
    assert job.to_dict()["result"]["date"] == "2019-05-29T16:16:10Z"


def test_live_result_has_local_date_and_client_version(local_tz, tmp_path):
    emulator = pytest.importorskip("jobarchive.emulator")
    with emulator.Emulator(seed_jobs=12, seed=5) as emu:
        doc = next((d for d in emu.job_docs() if d["status"] == "COMPLETED"), None)
        if doc is None:
            pytest.skip("the seeded history has no finished job")
        provider = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
        job = provider.retrieve_job(doc["id"])
        served = emu.result_of(doc["id"])
        result = job.result()
        sent = datetime.fromisoformat(served["date"].replace("Z", "+00:00"))
        assert result.date == sent.astimezone(UTC) and result.date.utcoffset() == local_tz
        assert result.client_version == job.client_version != {}
        assert job.to_dict()["result"] == served  # archived as the server sent it
        with Archive(tmp_path / "live.jobarchive") as arc:
            arc.add(job)
            offline = arc.get(doc["id"])
            assert offline.to_dict() == IBMQJob.from_dict(job.to_dict()).to_dict()
            assert offline.result().date == result.date
            assert offline.result().client_version == result.client_version
