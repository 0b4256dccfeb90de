"""The HTTP client against the emulator over real sockets: retries, errors, secrets.

Only the client's sleep (backoff) is replaced, to record delays and keep tests fast.
"""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest
import requests

import jobarchive
from jobarchive import (
    ApiError,
    ApiIBMQProtocolError,
    IBMQBackendApiError,
    IBMQJob,
    IBMQJobApiError,
    RequestsApiError,
)
from jobarchive.api import ApiClient, _retry_after, client_application_header

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

UNKNOWN_ID = "0123456789abcdef01234567"


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed_jobs=80, seed=13) as server:
        yield server


@pytest.fixture
def provider(emu):
    emu.set_faults(None)
    emu.set_latency(0.0)
    p = jobarchive.connect(emu.url, emu.token, backoff_factor=0.01)
    yield p
    emu.set_faults(None)
    emu.set_latency(0.0)


@pytest.fixture
def sleeps(provider):
    """Record backoff delays instead of sleeping."""
    recorded: list[float] = []
    provider.api_client.transport.sleep = recorded.append
    return recorded


def _done_ids(emu):
    return [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"]


def test_calls_return_the_server_documents(emu, provider):
    client = provider.api_client
    job_id = _done_ids(emu)[0]
    assert client.job_get(job_id) == emu.job_doc(job_id)
    assert client.job_status(job_id)["status"] == "COMPLETED"
    assert client.job_result(job_id) == emu.result_of(job_id)
    assert client.job_qobj(job_id) == emu.qobj_of(job_id)
    page = client.list_jobs({"order": "creationDate DESC", "limit": 5, "skip": 0})
    assert len(page) == 5 and all(isinstance(d, dict) for d in page)
    assert client.list_backends()
    assert "ApiClient(" in repr(client)


def test_http_error_message_follows_the_reference(provider):
    with pytest.raises(RequestsApiError) as info:
        provider.api_client.job_get(UNKNOWN_ID)
    err = info.value
    assert err.status_code == 404 and err.error_code == 3250
    # "<requests message>. <server message>, Error code: C."
    assert re.match(r"404 Client Error: .+ for url: http://127\.0\.0\.1:\d+/.+\. .+, Error code: 3250\.$",
                    str(err)), str(err)
    assert isinstance(err, ApiError)


def test_request_count_counts_every_attempt_across_threads(emu, provider):
    client = provider.api_client
    ids = _done_ids(emu)[:10]
    before_client, before_server = client.request_count, emu.stats()["total"]

    def work():
        for job_id in ids:
            client.job_status(job_id)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.request_count - before_client == 80
    assert emu.stats()["total"] - before_server == 80


def test_reads_succeed_through_20_percent_faults(emu, provider, sleeps):
    emu.set_faults({"rate": 0.2, "kinds": ["500", "502", "503", "429", "latency", "drop",
                                           "malformed"],
                    "latency": 0.01, "retry_after": 0, "seed": 3})
    client = provider.api_client
    want = {d["id"]: d for d in emu.job_docs()}
    listed = [d["id"] for d in provider.iter_job_docs(page_size=9)]
    assert sorted(listed) == sorted(want)
    in_order = sorted(want.values(), key=lambda d: (d["creationDate"], d["id"]), reverse=True)
    assert [j.job_id() for j in provider.jobs(limit=None)] == [d["id"] for d in in_order]
    for job_id in list(want)[:40]:
        assert client.job_get(job_id) == want[job_id]
        assert client.job_status(job_id)["status"] == want[job_id]["status"]
    for job_id in _done_ids(emu)[:10]:
        job = provider.retrieve_job(job_id)
        assert job.result().to_dict()["results"] == emu.result_of(job_id)["results"] or \
            job.to_dict()["result"] == emu.result_of(job_id)
    assert sleeps, "faults at 20% must have caused retries"
    emu.set_faults(None)


def test_one_client_shared_by_a_worker_pool_under_faults(emu, sleeps):
    from concurrent.futures import ThreadPoolExecutor

    # Threads interleave differently each run, so which call meets which fault varies: a
    # deeper retry budget keeps "every read succeeds" certain rather than merely likely.
    client = jobarchive.connect(emu.url, emu.token, max_retries=10).api_client
    client.transport.sleep = sleeps.append
    ids = _done_ids(emu)[:40]
    emu.set_faults({"rate": 0.2, "kinds": ["500", "503", "429", "drop", "malformed"],
                    "retry_after": 0, "seed": 6})
    before_client, before_server = client.request_count, emu.stats()["total"]
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(client.job_result, ids))
    finally:
        emu.set_faults(None)
    assert results == [emu.result_of(i) for i in ids]
    # Every attempt counted once, on both sides, whatever the interleaving.
    assert client.request_count - before_client == emu.stats()["total"] - before_server
    assert sleeps


@pytest.mark.parametrize("kind, status", [("500", 500), ("503", 503), ("502", 502),
                                          ("drop", -1), ("429", 429)])
def test_when_retries_run_out_the_caller_gets_the_packages_error(emu, provider, sleeps,
                                                                  kind, status):
    client = provider.api_client
    job_id = _done_ids(emu)[0]
    emu.set_faults({"rate": 1.0, "kinds": [kind], "retry_after": 0, "seed": 1})
    before = client.request_count
    with pytest.raises(RequestsApiError) as info:
        client.job_get(job_id)
    assert info.value.status_code == status
    assert "gave up after 6 attempts" in str(info.value)
    assert client.request_count - before == 6 and len(sleeps) == 5
    assert not isinstance(info.value, requests.RequestException)
    # Inside IBMQJob the same failure is an IBMQJobApiError, the ApiError chained as cause.
    job = IBMQJob.from_server(emu.job_doc(job_id), api_client=client)
    with pytest.raises(IBMQJobApiError) as job_info:
        job.refresh()
    assert isinstance(job_info.value.__cause__, RequestsApiError)
    with pytest.raises(IBMQBackendApiError, match="Failed to list jobs"):
        provider.jobs()
    emu.set_faults(None)


def test_error_messages_carry_no_signed_url_queries(emu, provider, sleeps):
    job_id = _done_ids(emu)[2]
    emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"], "seed": 1})
    try:
        with pytest.raises(RequestsApiError) as info:
            provider.api_client.job_result(job_id)
    finally:
        emu.set_faults(None)
    assert "/storage/result/" in str(info.value) and "sig=" not in str(info.value)
    with pytest.raises(IBMQJobApiError, match=f"Unable to retrieve result for job {job_id}"):
        emu.set_faults({"rate": 1.0, "kinds": ["503"], "endpoints": ["storage_result"], "seed": 1})
        try:
            provider.retrieve_job(job_id).result()
        finally:
            emu.set_faults(None)


def test_a_body_that_is_not_json_is_a_protocol_error(emu, provider, sleeps):
    emu.set_faults({"rate": 1.0, "kinds": ["malformed"], "seed": 1})
    with pytest.raises(ApiIBMQProtocolError, match="not JSON.*too many requests"):
        provider.api_client.job_status(_done_ids(emu)[0])
    assert len(sleeps) == 5  # GETs retry a malformed body
    emu.set_faults(None)


def test_writes_survive_faults_too(emu, provider, sleeps):
    """PUT (name, tags) and cancel retry 5xx, drops and garbled answers; the echo still holds."""
    job = provider.retrieve_job(_done_ids(emu)[1])
    emu.set_faults({"rate": 0.5, "kinds": ["500", "503", "drop", "malformed"], "seed": 8})
    try:
        for i in range(10):
            assert job.update_name(f"name-{i}") == f"name-{i}"
            assert set(job.update_tags(replacement_tags=[f"t{i}"])) == {f"t{i}"}
    finally:
        emu.set_faults(None)
    assert emu.job_doc(job.job_id())["name"] == "name-9"
    assert emu.job_doc(job.job_id())["tags"] == ["t9"]
    assert sleeps


def test_backoff_is_exponential_with_jitter(emu, sleeps):
    p = jobarchive.connect(emu.url, emu.token, backoff_factor=0.5, max_retries=4)
    transport = p.api_client.transport
    transport.sleep = sleeps.append
    transport.random = lambda: 0.5  # the middle of the jitter band: exactly the exponential step
    emu.set_faults({"rate": 1.0, "kinds": ["503"], "seed": 1})
    with pytest.raises(RequestsApiError):
        p.api_client.job_get(_done_ids(emu)[0])
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    sleeps.clear()
    transport.random = lambda: 0.0
    with pytest.raises(RequestsApiError):
        p.api_client.job_get(_done_ids(emu)[0])
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    emu.set_faults(None)


def test_429_honours_retry_after(emu, provider, sleeps):
    emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 7, "seed": 1})
    with pytest.raises(RequestsApiError) as info:
        provider.api_client.job_status(_done_ids(emu)[0])
    assert info.value.status_code == 429
    assert sleeps == [7.0] * 5
    emu.set_faults(None)
    assert _retry_after("3") == 3.0 and _retry_after(None) is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past


def test_read_timeout_is_an_api_error(emu):
    p = jobarchive.connect(emu.url, emu.token, timeout=(2.0, 0.05), max_retries=1,
                           backoff_factor=0.0)
    emu.set_latency(0.5)
    try:
        with pytest.raises(RequestsApiError, match="(?i)timed out") as info:
            p.api_client.job_get(_done_ids(emu)[0])
        assert info.value.status_code == -1
    finally:
        emu.set_latency(0.0)


def test_a_bad_access_token_is_a_401_api_error(emu, provider):
    client = ApiClient(provider.api_client.http_url, "forged-access-token", max_retries=0)
    with pytest.raises(RequestsApiError) as info:
        client.job_get(_done_ids(emu)[0])
    assert info.value.status_code == 401
    assert "forged-access-token" not in str(info.value)
    job = IBMQJob.from_server(emu.job_doc(_done_ids(emu)[0]), api_client=client)
    with pytest.raises(IBMQJobApiError, match="401"):
        job.refresh()


def test_the_token_never_reaches_messages_logs_or_reprs(emu, caplog):
    caplog.set_level(logging.DEBUG)
    p = jobarchive.connect(emu.url, emu.token, backoff_factor=0.0, max_retries=2)
    client = p.api_client
    secrets = [emu.token, client._token.value]
    texts: list[str] = []
    emu.set_faults({"rate": 0.5, "kinds": ["500", "503", "drop", "malformed", "429"],
                    "retry_after": 0, "seed": 4})
    try:
        for doc in emu.job_docs()[:30]:
            try:
                job = p.retrieve_job(doc["id"])
                texts += [repr(job), json.dumps(job.to_dict())]
                job.result()
            except Exception as err:  # noqa: BLE001 - every error's text is checked
                texts += [str(err), repr(err), str(err.__cause__), repr(err.__cause__)]
    finally:
        emu.set_faults(None)
    for call in (lambda: jobarchive.connect(emu.url, emu.token + "x"),
                 lambda: client.job_get(UNKNOWN_ID),
                 lambda: ApiClient(client.http_url, secrets[1] + "zz", max_retries=0).job_get("x")):
        with pytest.raises(jobarchive.IBMQError) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    texts += [repr(p), repr(client), repr(client.transport.session), repr(client._token),
              str(client._token), repr(p.backends()), repr(vars(client))]
    texts += [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    assert any("retrying" in r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert not any(secret in t for t in texts), secret[:3]


def test_client_application_header_names_jobarchive(monkeypatch):
    assert client_application_header() == f"jobarchive/{jobarchive.__version__}"
    monkeypatch.setenv("QE_CUSTOM_CLIENT_APP_HEADER", "lab42")
    assert client_application_header() == f"jobarchive/{jobarchive.__version__}/lab42"


def test_a_server_that_is_not_there_is_given_up_on_after_three_retries():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ApiClient(f"http://127.0.0.1:{port}/api", "access", max_retries=5)
    sleeps: list[float] = []
    client.transport.sleep = sleeps.append
    with pytest.raises(RequestsApiError, match="gave up after 4 attempts") as info:
        client.job_get("abc")
    assert info.value.status_code == -1 and len(sleeps) == 3


def test_a_deadline_bounds_requests_and_their_retries(emu, provider):
    from jobarchive.api import RequestDeadlineError

    client = provider.api_client
    job_id = _done_ids(emu)[0]
    sent = client.request_count
    with client.deadline(0.0), pytest.raises(RequestDeadlineError, match="deadline passed"):
        client.job_status(job_id)
    assert client.request_count == sent  # nothing was sent past the deadline
    with client.deadline(60.0):
        with client.deadline(0.0), pytest.raises(RequestDeadlineError):  # the earlier one wins
            client.job_get(job_id)
        assert client.job_status(job_id)["status"] == "COMPLETED"
    with client.deadline(None):
        assert client.job_get(job_id)["id"] == job_id
    assert isinstance(RequestDeadlineError("x"), TimeoutError)  # job.py tells it apart so


def test_connect_keeps_the_account_id_for_the_sync_cursor(provider):
    assert isinstance(provider.api_client.user_id, str) and provider.api_client.user_id
