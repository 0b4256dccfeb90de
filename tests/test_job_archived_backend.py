"""The backend of an offline job (an ArchivedBackend) knows only its name. Code written for
upstream calls job.backend().properties(), .configuration(), .status() on it; that used to
end in Python's bare "'ArchivedBackend' object has no attribute 'properties'". It now says
what the stand-in is and where the live backend is, still as an AttributeError (hasattr and
getattr with a default keep working)."""

from __future__ import annotations

import copy
import pickle
import re

import pytest

from jobarchive import IBMQJob


def test_the_backend_of_an_archived_job_says_where_the_live_one_is(arc):
    arc.add(IBMQJob(None, None, "5f8e2a1b9c0d4e0012ab34cd", "2020-10-20T14:03:11.512Z",
                    "COMPLETED", backend_name="ibmq_athens"))
    backend = arc.get("5f8e2a1b9c0d4e0012ab34cd").backend()
    assert backend.name() == "ibmq_athens"
    for method in ("properties", "configuration", "status"):
        with pytest.raises(AttributeError, match=re.escape(
                f"<ArchivedBackend('ibmq_athens')> is the backend of an offline job: it knows "
                f"only its name, so it has no {method}. The live backend is "
                "provider.get_backend('ibmq_athens').")):
            getattr(backend, method)()
    assert not hasattr(backend, "configuration")
    assert getattr(backend, "defaults", None) is None
    assert copy.deepcopy(backend).name() == "ibmq_athens"
    assert pickle.loads(pickle.dumps(backend)).name() == "ibmq_athens"
