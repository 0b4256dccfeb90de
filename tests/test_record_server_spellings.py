"""A record that spells a known field the server's way (``shareLevel``) beside, or instead
of, the record's own key: taken when they agree, refused when they disagree."""

from __future__ import annotations

import pytest

from jobarchive import IBMQJob, JobValidationError

RECORD = {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
          "status": "COMPLETED", "backend_name": "ibmq_athens"}


def test_disagreeing_spellings_are_refused_and_nothing_is_written(arc):
    with pytest.raises(JobValidationError, match="shareLevel.*share_level") as err:
        arc.add({**RECORD, "share_level": "project", "shareLevel": "hub"})
    assert err.value.field == "share_level"
    assert len(arc) == 0


@pytest.mark.parametrize("extra", [{"share_level": "hub"}, {"share_level": None}, {}])
def test_agreeing_or_missing_record_key_takes_the_server_spelling(arc, extra):
    arc.add({**RECORD, **extra, "shareLevel": "hub", "timePerStep": {"CREATING": "2020-10-20T14:03:11Z"}})
    got = arc.record(RECORD["job_id"])
    assert got["share_level"] == "hub" and "shareLevel" not in got
    assert got["time_per_step"] == {"CREATING": "2020-10-20T14:03:11.000000Z"}  # normalized like its own key
    assert list(arc.query(share_level="hub")["job_id"]) == [RECORD["job_id"]]


def test_a_null_server_spelling_is_dropped_and_other_server_fields_stay():
    job = IBMQJob.from_dict({**RECORD, "share_level": "group", "shareLevel": None, "hubInfo": {"a": 1}})
    d = job.to_dict()
    assert d["share_level"] == "group" and "shareLevel" not in d and d["hubInfo"] == {"a": 1}


def test_a_bad_value_under_the_server_spelling_is_refused_as_the_field():
    with pytest.raises(JobValidationError) as err:
        IBMQJob.from_dict({**RECORD, "creationDate": None, "runMode": 7})
    assert err.value.field == "run_mode"
