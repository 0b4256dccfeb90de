"""The exception tree of reference §5, whole: code written for qiskit-ibmq-provider that
catches any of upstream's classes imports them from jobarchive and catches the same way."""

from __future__ import annotations

import pytest
from qiskit.exceptions import QiskitError
from qiskit.providers import JobError, JobTimeoutError

import jobarchive

TREE = {  # class -> its parents in the reference
    "IBMQError": ["QiskitError"],
    "IBMQJobError": ["JobError", "IBMQError"],
    "IBMQJobApiError": ["IBMQJobError"],
    "IBMQJobFailureError": ["IBMQJobError"],
    "IBMQJobInvalidStateError": ["IBMQJobError"],
    "IBMQJobTimeoutError": ["JobTimeoutError", "IBMQJobError"],
    "ApiError": ["IBMQError"],
    "RequestsApiError": ["ApiError"],
    "WebsocketError": ["ApiError"],
    "WebsocketIBMQProtocolError": ["WebsocketError"],
    "WebsocketAuthenticationError": ["WebsocketError"],
    "WebsocketTimeoutError": ["WebsocketError"],
    "AuthenticationLicenseError": ["ApiError"],
    "ApiIBMQProtocolError": ["ApiError"],
    "UserTimeoutExceededError": ["ApiError"],
    "IBMQBackendError": ["IBMQError"],
    "IBMQBackendApiError": ["IBMQBackendError"],
    "IBMQBackendApiProtocolError": ["IBMQBackendApiError"],
    "IBMQBackendValueError": ["IBMQBackendError", "ValueError"],
    "IBMQBackendJobLimitError": ["IBMQBackendError"],
    "IBMQAccountError": ["IBMQError"],
    "IBMQAccountCredentialsNotFound": ["IBMQAccountError"],
    "IBMQAccountCredentialsInvalidFormat": ["IBMQAccountError"],
    "IBMQAccountCredentialsInvalidToken": ["IBMQAccountError"],
    "IBMQAccountCredentialsInvalidUrl": ["IBMQAccountError"],
    "IBMQAccountMultipleCredentialsFound": ["IBMQAccountError"],
    "IBMQProviderError": ["IBMQAccountError"],
    "IBMQAccountValueError": ["IBMQError"],
    "IBMQInputValueError": ["IBMQError"],
    "IBMQNotAuthorizedError": ["IBMQError"],
}
OUTSIDE = {"QiskitError": QiskitError, "JobError": JobError, "JobTimeoutError": JobTimeoutError,
           "ValueError": ValueError}


@pytest.mark.parametrize(("name", "parents"), TREE.items())
def test_every_class_of_the_reference_tree_is_there_under_its_parents(name, parents):
    cls = getattr(jobarchive, name)
    assert name in jobarchive.__all__
    for parent in parents:
        assert issubclass(cls, OUTSIDE.get(parent) or getattr(jobarchive, parent)), (name, parent)


def test_upstreams_helpers_are_at_the_top_level():
    """``from qiskit.providers.ibmq import least_busy`` and ``job_monitor`` port as
    ``from jobarchive import ...``."""
    from jobarchive.job import job_monitor
    from jobarchive.provider import least_busy

    assert (jobarchive.least_busy, jobarchive.job_monitor) == (least_busy, job_monitor)
    assert {"least_busy", "job_monitor"} <= set(jobarchive.__all__)
