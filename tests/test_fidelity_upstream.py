"""Offline reads answer what qiskit-ibmq-provider's IBMQJob (0.11.1) and qiskit's own
``Result.from_dict`` answer for the same stored data: edge cases of real shapes that the
other tests do not reach (result-level errors, count key spellings, ...)."""

from __future__ import annotations

import pytest

from jobarchive import IBMQJob

BASE = {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
        "kind": "q-object-external-storage"}


def _result(**extra) -> dict:
    return dict({"backend_name": "ibmq_athens", "backend_version": "1.3.13", "qobj_id": "q1",
                 "job_id": BASE["job_id"], "success": False, "results": []}, **extra)


def test_a_result_level_error_is_formatted_like_upstream(arc):
    # Upstream's _check_for_error_message: a result without experiments but with an
    # `error` object gives "<message>. Error code: <code>." (not the dict's repr).
    result = _result(error={"code": 7002, "message": "Qobj failed to run"})
    arc.add(dict(BASE, status="ERROR_RUNNING_JOB", result=result))
    job = arc.get(BASE["job_id"])
    assert job.error_message() == "Qobj failed to run. Error code: 7002."
    with pytest.raises(Exception, match=r"Job has failed: Qobj failed to run\. Error code: 7002\.$"):
        job.result()


def test_an_extra_read_as_attribute_is_a_copy_so_the_record_stays_sealed(arc):
    # Like tags(), qobj() and to_dict(): what a read hands out cannot reach into the record,
    # which Archive.add(job) stores as it is (a NaN put there was archived as null).
    arc.add(dict(BASE, status="COMPLETED", hub_info={"hub": {"name": "ibm-q"}}, qasms=[{"n": 1}]))
    job = arc.get(BASE["job_id"])
    job.hub_info_["hub"]["name"] = float("nan")
    job.qasms_.append({1, 2})
    assert job.hub_info_ == {"hub": {"name": "ibm-q"}} and job.qasms_ == [{"n": 1}]
    arc.add(job)
    assert arc.get(BASE["job_id"]).to_dict() == job.to_dict()
    assert job.to_dict()["hub_info"] == {"hub": {"name": "ibm-q"}}


def test_the_dict_a_job_was_built_from_is_not_shared_with_it(arc):
    # from_dict() validates once; a later change to the caller's dict must not slip into the
    # job's record unvalidated (Archive.add(job) stores that record as it is).
    result = _result(success=True, results=[{"shots": 4, "success": True,
                                             "data": {"counts": {"0x0": 4}}}])
    data = dict(BASE, status="COMPLETED", result=result, hub_info={"hub": {"name": "ibm-q"}})
    job = IBMQJob.from_dict(data)
    built = job.to_dict()
    result["results"][0]["data"]["counts"]["0x0"] = float("nan")
    data["hub_info"]["hub"]["name"] = {1, 2}
    assert job.to_dict() == built
    arc.add(job)
    assert arc.get(BASE["job_id"]).to_dict() == built


def test_the_server_experiment_tag_reads_as_upstream_0_11_serves_it(arc):
    # 0.11.1 maps no experimentTag: it is the extra `experiment_tag_` (reference §1.3); the
    # record keeps it as experiment_id (0.12+'s name), and both spellings answer.
    doc = {"id": BASE["job_id"], "creationDate": BASE["creation_date"], "status": "COMPLETED",
           "kind": BASE["kind"], "backend": {"name": "ibmq_athens"}, "experimentTag": "exp-7"}
    arc.add(IBMQJob.from_server(doc))
    job = arc.get(BASE["job_id"])
    assert job.experiment_id == "exp-7" and job.experiment_tag_ == "exp-7"
    arc.add(dict(BASE, job_id="no-tag", status="COMPLETED"))
    with pytest.raises(AttributeError, match="Attribute experiment_tag_ is not defined."):
        arc.get("no-tag").experiment_tag_  # noqa: B018
