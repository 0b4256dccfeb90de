"""Every real recorded job document and result goes through from_server, the archive and back.

Data: ``../shared/realdata`` (see its SOURCES.md). 408 of the 430 documents are qiskit-terra
cassette docs whose ``creationDate`` was anonymised to ``dummyapiJobscreationDateNN``: those
must be refused with a ``JobValidationError`` naming the job and the field, never a crash.
The other 22 (2018 v1 docs with real dates, 2019 XACC, 2021/2024 IBMQClient.jl, 2018
qiskit-api-cpp) must survive unchanged in meaning.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qiskit.result import Result

from jobarchive import (
    Archive,
    IBMQJob,
    IBMQJobError,
    IBMQJobInvalidStateError,
    JobStatus,
    JobValidationError,
)

pytestmark = pytest.mark.terra046  # qiskit's Result.from_dict differs across versions
PLACEHOLDER = "dummyapiJobscreationDate"

# Server key -> record key where it is not the plain camelCase -> snake_case rule.
RENAMED = {"id": "job_id", "backend": "_backend_info", "creationDate": "creation_date",
           "qObject": "qobj", "qObjectResult": "result", "timePerStep": "time_per_step",
           "shots": "_api_shots", "runMode": "run_mode", "infoQueue": "info_queue",
           "calibration": "_properties"}
DATE_KEYS = {"creationDate"}


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _accepted(corpus: list[dict]) -> list[dict]:
    return [e for e in corpus if not str(e["document"].get("creationDate")).startswith(PLACEHOLDER)]


def _jl_bodies(realdata: Path, name: str) -> list[str]:
    return [r["body"] for r in json.loads((realdata / "ibmqclient_jl_records" / name).read_text())["responses"]]


def assert_same_meaning(doc: dict, record: dict) -> None:
    """Each server field is in the record under its mapped key with the same value."""
    for key, value in doc.items():
        target = RENAMED.get(key, _snake(key))
        assert target in record, f"server field {key!r} lost (expected as {target!r})"
        got = record[target]
        if key in DATE_KEYS:
            assert _instant(got) == _instant(value), key
        elif key == "timePerStep":
            assert {k: _instant(v) for k, v in got.items()} == {k: _instant(v) for k, v in value.items()}
        elif key == "tags" and value is None:
            assert got == []  # an explicit null list is the empty list
        elif key == "infoQueue":
            assert got == {_snake(k): v for k, v in value.items()}
        else:
            assert got == value, key
    if isinstance(doc.get("backend"), dict):
        assert record["backend_name"] == doc["backend"]["name"]
    assert record["status"] == doc["status"]


# --- the corpus as a whole ------------------------------------------------------------------


def test_corpus_split_accepted_and_placeholder_refused(real_corpus):
    assert len(real_corpus) == 430
    by_source = Counter(e["source"].split()[0] for e in real_corpus)
    assert by_source == {"Qiskit/qiskit-terra": 412, "QuantumBFS/IBMQClient.jl": 16,
                         "eclipse/xacc": 1, "Masaru26/qiskit-api-cpp": 1}
    accepted, refused = [], []
    for entry in real_corpus:
        doc = entry["document"]
        try:
            accepted.append(IBMQJob.from_server(doc))
        except JobValidationError as err:  # anything else is a crash and fails the test
            refused.append((doc, err))
    assert len(accepted) == 22 and len(refused) == 408
    for doc, err in refused:
        assert doc["creationDate"].startswith(PLACEHOLDER)
        assert err.field == "creation_date" and err.job_id == doc["id"]
        assert doc["creationDate"] in str(err) and "ISO-8601" in str(err)
    ids = {j.job_id() for j in accepted}
    assert "cnbnd1mj1613i2jfch3g" in ids and len("cnbnd1mj1613i2jfch3g") == 20
    assert "5b633f94f9b81b00364af0dd" in ids  # the terra docs recorded before anonymisation


def test_accepted_status_mix(real_corpus):
    statuses = Counter(IBMQJob.from_server(e["document"]).to_dict()["status"]
                       for e in _accepted(real_corpus))
    assert statuses == {"COMPLETED": 14, "RUNNING": 3, "CREATED": 3, "CREATING": 1,
                        "ERROR_VALIDATING_JOB": 1}


def test_placeholder_docs_refused_by_the_archive_and_write_nothing(real_corpus, arc):
    bad = [e["document"] for e in real_corpus if str(e["document"]["creationDate"]).startswith(PLACEHOLDER)]
    good = [e["document"] for e in _accepted(real_corpus)]
    with pytest.raises(JobValidationError, match="creation_date"):
        arc.add_many([IBMQJob.from_server(good[0]).to_dict(), {
            "job_id": bad[0]["id"], "creation_date": bad[0]["creationDate"], "status": bad[0]["status"]}])
    assert len(arc) == 0
    assert not list((arc.path / "blobs").iterdir())


@pytest.mark.parametrize("index", range(22))
def test_each_accepted_doc_round_trips_through_the_archive(real_corpus, tmp_path, index):
    entry = _accepted(real_corpus)[index]
    doc = entry["document"]
    job = IBMQJob.from_server(doc)
    record = job.to_dict()
    assert_same_meaning(doc, record)
    assert json.loads(json.dumps(record)) == record  # JSON-only types
    assert IBMQJob.from_dict(record).to_dict() == record
    with Archive(tmp_path / "a") as arc:
        arc.add(job)
        back = arc.get(doc["id"])
        assert back.to_dict() == record
        assert back.job_id() == doc["id"]
        assert back.status() is job.status()
        row = arc.query(job_tags=None).set_index("job_id").loc[doc["id"]]
        assert row["api_status"] == doc["status"]
        assert row["creation_date"] == _instant(doc["creationDate"])
        assert arc.audit()["ok"].all()
    with Archive(tmp_path / "a") as reopened:  # and after a reopen
        assert reopened.get(doc["id"]).to_dict() == record


def test_whole_accepted_corpus_in_one_archive(real_corpus, arc):
    jobs = [IBMQJob.from_server(e["document"]) for e in _accepted(real_corpus)]
    assert arc.add_many(jobs) == 22
    # Duplicated ids (the same job polled at several moments): the final state wins.
    assert len(arc) == len({j.job_id() for j in jobs}) == 17
    assert arc.get("5b633f94f9b81b00364af0dd").to_dict()["status"] == "COMPLETED"
    assert arc.get("609131631355905234476870").to_dict()["status"] == "COMPLETED"
    frame = arc.query()
    assert frame["creation_date"].is_monotonic_decreasing
    assert set(frame["backend_name"]) == {"ibmq_qasm_simulator", "ibmq_poughkeepsie", "ibmqx4"}
    assert list(arc.query(status="ERROR")["job_id"]) == ["6090421b6cb1a50366176853"]
    assert list(arc.query(backend_name="ibmqx4")["job_id"]) == ["5bcee56e8dcd770057aac428"]
    assert len(arc.query(start_datetime=datetime(2021, 1, 1, tzinfo=UTC),
                         end_datetime="2021-12-31T23:59:59Z")) == 6
    assert arc.audit()["ok"].all()


# --- specific shapes -------------------------------------------------------------------------


def _doc(real_corpus, job_id: str, status: str | None = None) -> dict:
    for e in _accepted(real_corpus):
        d = e["document"]
        if d["id"] == job_id and (status is None or d["status"] == status):
            return d
    raise LookupError(job_id)


def test_flat_hub_info_of_2019_kept(real_corpus, arc):
    doc = _doc(real_corpus, "5ceeb008918fd00073904714")
    arc.add(IBMQJob.from_server(doc))
    job = arc.get("5ceeb008918fd00073904714")
    rec = job.to_dict()
    assert rec["hub_info"] == doc["hubInfo"] and set(rec["hub_info"]) == {"hubName", "groupName", "projectName"}
    assert job.hub_info_ == doc["hubInfo"]
    assert rec["total_time_device"] == doc["totalTimeDevice"] and isinstance(rec["total_time_device"], float)
    assert rec["qasms"] == [{"status": "WORKING_IN_PROGRESS", "executionId": "5ceeb008918fd00073904715"}]
    assert rec["kind"] == "q-object" and rec["qobj"] == doc["qObject"]
    # The embedded qObjectResult is the result: readable offline and as counts columns.
    assert rec["result"] == doc["qObjectResult"]
    result = job.result()
    assert isinstance(result, Result) and result.get_counts() == {"00": 342, "01": 187, "10": 314, "11": 181}
    counts = arc.counts(["5ceeb008918fd00073904714"])
    assert dict(zip(counts["bitstring"], counts["count"], strict=True)) == result.get_counts()
    assert list(counts["key"]) == ["0x0", "0x1", "0x2", "0x3"]


def test_nested_hub_info_and_missing_run_mode_of_2021(real_corpus, arc):
    err = _doc(real_corpus, "6090421b6cb1a50366176853")
    assert "runMode" not in err and "error" not in err
    arc.add(IBMQJob.from_server(err))
    job = arc.get(err["id"])
    assert job.to_dict()["hub_info"] == {"hub": {"name": "ibm-q"}, "group": {"name": "open"},
                                         "project": {"name": "main"}}
    assert job.to_dict()["run_mode"] is None and job.scheduling_mode() is None
    assert job.status() is JobStatus.ERROR
    assert job.error_message() == "ERROR_VALIDATING_JOB"  # no error object in list views
    assert job.to_dict()["end_date"] == err["endDate"]  # unknown dates kept as sent


def test_runtime_2024_doc_with_20_char_id_and_explicit_nulls(real_corpus, arc):
    doc = _doc(real_corpus, "cnbnd1mj1613i2jfch3g", "COMPLETED")
    assert len(doc["id"]) == 20 and doc["kind"] == "runtime"
    arc.add(IBMQJob.from_server(doc))
    job = arc.get(doc["id"])
    assert job.name() == "circuit-runner" and job.tags() == []
    assert job.client_version == {doc["clientInfo"]["name"]: None}
    assert job.to_dict()["created_by"] == "local" and job.to_dict()["live_data_enabled"] is False
    assert job.backend().name() == "ibmq_qasm_simulator"
    created = _doc(real_corpus, "cnbnd1mj1613i2jfch3g", "CREATED")
    assert created["name"] is None and created["tags"] is None and created["shots"] is None
    rec = IBMQJob.from_server(created).to_dict()
    assert rec["name"] is None and rec["tags"] == [] and rec["_api_shots"] is None
    assert list(rec["time_per_step"]) == ["CREATED"]


def test_v1_qasms_with_binary_counts_kept(real_corpus, arc):
    doc = _doc(real_corpus, "5b633f94f9b81b00364af0dd", "COMPLETED")
    arc.add(IBMQJob.from_server(doc))
    rec = arc.get(doc["id"]).to_dict()
    assert rec["qasms"] == doc["qasms"]
    assert rec["qasms"][0]["result"]["data"]["counts"] == {"000": 979, "111": 1021}
    assert rec["_properties"] == {} and rec["max_credits"] == 10 and rec["_api_shots"] == 2000
    assert rec["kind"] is None and rec["result"] is None  # v1: no qobj-era result
    row = arc.query().iloc[0]
    assert row["shots"] == 2000 and not row["has_result"]
    counts = arc.counts([doc["id"]])  # from qasms: v1 jobs keep their counts there
    assert list(zip(counts["experiment"], counts["bitstring"], counts["count"], strict=True)) == [
        (0, "000", 979), (0, "111", 1021)]


def test_queued_while_running_2018(real_corpus, arc):
    doc = _doc(real_corpus, "5bcee56e8dcd770057aac428")
    arc.add(IBMQJob.from_server(doc))
    job = arc.get(doc["id"])
    assert job.status() is JobStatus.RUNNING
    assert job.to_dict()["info_queue"] == {"status": "PENDING_IN_QUEUE", "position": 112}
    assert job.to_dict()["deleted"] is False and job.to_dict()["backend_name"] == "ibmqx4"


# --- real results with their jobs -------------------------------------------------------------


def test_2021_job_with_its_real_qobj_and_naive_dated_result(realdata, arc):
    status_body, url_body, result_body, done_body = _jl_bodies(realdata, "result_2021.json")
    doc = json.loads(status_body)
    upload = json.loads((realdata / "ibmqclient_jl_records" / "submit_2021.json").read_text())["responses"][1]
    assert upload["request"]["method"] == "PUT" and doc["id"] in upload["request"]["target"]
    qobj = json.loads(upload["request"]["body"])  # the real qobj the job ran (S3 upload)
    result = json.loads(result_body)
    assert result["date"] == "2021-05-04T11:35:02.660124"  # naive, microseconds
    assert json.loads(done_body) == {"terminated": True} and "url" in json.loads(url_body)
    record = IBMQJob.from_server(doc).to_dict()
    record["result"] = result
    record["qobj"] = qobj
    arc.add(record)
    job = arc.get(doc["id"])
    assert job.to_dict()["result"] == result  # the naive date is kept exactly as sent
    res = job.result()
    assert isinstance(res, Result)
    assert res.get_counts(0) == {"0": 506, "11": 494}  # no memory_slots in the header: unpadded
    assert job.qobj() == qobj and job.to_dict()["qobj"]["qobj_id"] == "bell_Qobj_07272018"
    counts = arc.counts(doc["id"])
    for i in range(2):
        part = counts[counts["experiment"] == i]
        assert dict(zip(part["bitstring"], part["count"], strict=True)) == res.get_counts(i)
    assert set(counts["key"]) == {"0x0", "0x3", "0x1", "0x2"}
    row = arc.query().iloc[0]
    assert row["num_experiments"] == 2 and row["shots"] == 1000 and row["has_result"]


def test_2024_runtime_result_kept_as_sent(realdata, arc):
    status_body, _, result_body, _ = _jl_bodies(realdata, "result_2024.json")
    doc = json.loads(status_body)
    result = json.loads(result_body)
    assert result["job_id"] == "Unknown" and result["backend_name"] == "qasm_simulator"
    arc.add(dict(IBMQJob.from_server(doc).to_dict(), result=result))
    job = arc.get("cnbnd1mj1613i2jfch3g")
    assert job.to_dict()["result"] == result
    assert job.backend().name() == "ibmq_qasm_simulator"  # the job's backend, not the result's
    assert job.result().get_counts(1) == {"10": 459, "1": 541}
    assert arc.counts(["cnbnd1mj1613i2jfch3g"])["count"].sum() == 2000


def test_results_all_json(realdata, real_corpus, tmp_path):
    results = json.loads((realdata / "results_all.json").read_text())
    assert len(results) == 3
    owners = {"5ceeb008918fd00073904714", "609131631355905234476870", "cnbnd1mj1613i2jfch3g"}
    docs = {e["document"]["id"]: e["document"] for e in _accepted(real_corpus)
            if e["document"]["status"] == "COMPLETED" and e["document"]["id"] in owners}
    with Archive(tmp_path / "r") as arc:
        for entry in results:
            result = entry["result"]
            owner = result["job_id"] if result["job_id"] in owners else "cnbnd1mj1613i2jfch3g"
            arc.add(dict(IBMQJob.from_server(docs[owner]).to_dict(), result=result))
            assert arc.get(owner).to_dict()["result"] == result
            qiskit_counts = [Result.from_dict(result).get_counts(i) for i in range(len(result["results"]))]
            assert arc.get(owner).result().to_dict()["results"][0]["data"]["counts"] == \
                result["results"][0]["data"]["counts"]
            frame = arc.counts([owner])
            for i, want in enumerate(qiskit_counts):
                part = frame[frame["experiment"] == i]
                assert dict(zip(part["bitstring"], part["count"], strict=True)) == want
        assert len(arc) == 3 and arc.query()["has_result"].all()
        assert arc.audit()["ok"].all()


# --- every offline read of every accepted document, against upstream's rules -----------------

# Server status -> JobStatus as qiskit-ibmq-provider 0.11.1 maps it (reference §2.1), written
# out here rather than imported so that the test is an independent oracle.
UPSTREAM_STATUS = {"CREATING": JobStatus.INITIALIZING, "CREATED": JobStatus.INITIALIZING,
                   "RUNNING": JobStatus.RUNNING, "COMPLETED": JobStatus.DONE,
                   "ERROR_VALIDATING_JOB": JobStatus.ERROR}
FINAL = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)


def _upstream_client_version(info) -> dict:
    if not info:
        return {}
    if info.get("name", "").startswith("qiskit"):
        return dict(zip(info["name"].split(","), info["version"].split(","), strict=False))
    return {info.get("name", "unknown"): info.get("version", "unknown")}


@pytest.mark.parametrize("index", range(22))
def test_each_accepted_doc_reads_offline_as_upstream_would(real_corpus, tmp_path, local_tz, index):
    doc = _accepted(real_corpus)[index]["document"]
    with Archive(tmp_path / "a") as arc:
        arc.add(IBMQJob.from_server(doc))
        job = arc.get(doc["id"])
    status = UPSTREAM_STATUS[doc["status"]]
    assert job.status() is status
    assert job.creation_date() == _instant(doc["creationDate"])
    assert job.creation_date().utcoffset() == local_tz  # local time, as upstream
    steps = job.time_per_step()
    if doc.get("timePerStep"):
        assert steps == {k: _instant(v) for k, v in doc["timePerStep"].items()}
        assert all(v.utcoffset() == local_tz for v in steps.values())
    else:
        assert steps is None
    assert job.tags() == (doc.get("tags") or [])
    assert job.name() == doc.get("name")
    assert job.share_level() == (doc.get("shareLevel") or "none")
    fallback = "fairshare" if status in (JobStatus.RUNNING, JobStatus.DONE) else None
    assert job.scheduling_mode() == (doc.get("runMode") or fallback)
    assert job.client_version == _upstream_client_version(doc.get("clientInfo"))
    assert job.backend().name() == doc["backend"]["name"]
    # Queue information exists only while the server status is exactly QUEUED (§4.8).
    assert job.queue_info() is None and job.queue_position() is None
    if status in FINAL:
        expected_error = doc["status"] if status is JobStatus.ERROR else None  # no error objects
        assert job.error_message() == expected_error
    else:
        with pytest.raises(IBMQJobError, match="offline"):
            job.error_message()
    # qobj(): None without a kind or for a runtime job (none by design), the inline qObject,
    # else it needs the network.
    if not doc.get("kind") or doc["kind"] == "runtime":
        assert job.qobj() is None
    elif "qObject" in doc:
        assert job.qobj() == doc["qObject"]
    else:
        with pytest.raises(IBMQJobError, match="offline"):
            job.qobj()
    # result(): the inline qObjectResult as qiskit reads it; a v1 job has no supported format.
    if status is not JobStatus.DONE:
        with pytest.raises(IBMQJobError):
            job.result()
    elif "qObjectResult" in doc:
        want = Result.from_dict(doc["qObjectResult"])
        got = job.result()
        for i in range(len(want.results)):
            assert got.get_counts(i) == want.get_counts(i)
            assert got.results[i].header == want.results[i].header
        assert got.date == _instant(doc["qObjectResult"]["date"])
    elif not doc.get("kind"):
        with pytest.raises(IBMQJobInvalidStateError, match="unsupported format"):
            job.result()
    else:
        with pytest.raises(IBMQJobError, match="offline"):
            job.result()
    # properties(): the document's calibration ({} is "none available"), else the network.
    if "calibration" in doc:
        assert job.properties() == (doc["calibration"] or None)
    else:
        with pytest.raises(IBMQJobError, match="offline"):
            job.properties()


def test_query_client_version_of_a_null_version_is_not_the_text_none(real_corpus, arc):
    doc = _doc(real_corpus, "cnbnd1mj1613i2jfch3g", "COMPLETED")
    assert doc["clientInfo"] == {"name": "IBMQClient.jl", "version": None}
    arc.add(IBMQJob.from_server(doc))
    assert arc.get(doc["id"]).client_version == {"IBMQClient.jl": None}
    text = arc.query()["client_version"].iloc[0]
    assert text.startswith("IBMQClient.jl") and "None" not in text
