"""Records mixing the server's camelCase with the to_dict() snake_case keys (reference §3.4).

A record is snake_case; a camelCase key is kept as an unknown server field. When that key is
the server's spelling of a known field (``shareLevel`` for ``share_level``), the value is lost
to every filter and accessor while the archive says nothing.
"""

from __future__ import annotations

import pytest

from jobarchive import IBMQJob, JobValidationError

RECORD = {"job_id": "5f8e2a1b9c0d4e0012ab34cd", "creation_date": "2020-10-20T14:03:11.512Z",
          "status": "COMPLETED", "backend_name": "ibmq_athens"}


@pytest.mark.parametrize(("camel", "snake", "value", "read"), [
    ("shareLevel", "share_level", "hub",
     lambda job, df: (job.share_level(), len(df(share_level="hub")))),
    ("runMode", "run_mode", "dedicated",
     lambda job, df: (job.scheduling_mode(), len(df(run_mode="dedicated")))),
])
def test_a_camel_case_known_field_is_not_silently_lost(arc, camel, snake, value, read):
    record = {**RECORD, camel: value}
    try:
        arc.add(record)
    except JobValidationError as err:  # refused, naming the key the record format uses
        assert snake in str(err)
        return
    job = arc.get(RECORD["job_id"])
    assert read(job, arc.query) == (value, 1)
    assert camel not in job.to_dict()
    assert IBMQJob.from_dict(record).to_dict() == job.to_dict()
