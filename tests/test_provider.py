"""connect(), the provider and its backends against the emulator over real sockets.

``provider.jobs()`` is checked against a plain-Python filter over ``emu.job_docs()``: same
jobs, same order (creation date, ties broken by id, as the emulator orders them), across
page boundaries.
"""

from __future__ import annotations

import re
import socket
import time
import warnings
from datetime import UTC, datetime, timedelta, timezone

import pytest
from qiskit import QuantumCircuit
from qiskit.providers import JobStatus

import jobarchive
from jobarchive import (
    IBMQAccountCredentialsInvalidToken,
    IBMQAccountCredentialsInvalidUrl,
    IBMQBackendApiError,
    IBMQBackendError,
    IBMQBackendValueError,
    IBMQJob,
    IBMQProviderError,
)
from jobarchive.provider import UNLIMITED_PAGE_SIZE, build_where, iter_pages
from jobarchive.status import to_job_status

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator


def _ms(iso: str) -> int:
    return int(round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


def _reference(docs, *, backend_name=None, status=None, job_name=None, start=None, end=None,
               tags=None, operator="OR", descending=True, where=None):
    """The jobs() semantics of reference §6 written as plain Python over full documents."""
    statuses = None
    if status is not None:
        statuses = {JobStatus[s.upper()] if isinstance(s, str) else s
                    for s in (status if isinstance(status, list) else [status])}
    out = []
    for d in docs:
        if backend_name and d["backend"]["name"] != backend_name:
            continue
        if statuses is not None:
            api = d["status"]
            # QUEUED matches the server string QUEUED only, not PENDING_IN_QUEUE.
            if api == "PENDING_IN_QUEUE" or to_job_status(api) not in statuses:
                continue
        if job_name and not re.search(job_name, d.get("name") or ""):
            continue
        created = _ms(d["creationDate"])
        if start is not None and created < int(round(start.timestamp() * 1000)):
            continue
        if end is not None and created > int(round(end.timestamp() * 1000)):
            continue
        job_tags = set(d.get("tags") or [])
        if tags:
            if operator == "OR" and not job_tags & set(tags):
                continue
            if operator == "AND" and not set(tags) <= job_tags:
                continue
        if where and not where(d):
            continue
        out.append(d)
    out.sort(key=lambda d: (_ms(d["creationDate"]), d["id"]), reverse=descending)
    return [d["id"] for d in out]


def _ids(jobs):
    return [j.job_id() for j in jobs]


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed_jobs=240, seed=21) as server:
        yield server


@pytest.fixture(scope="module")
def provider(emu):
    return jobarchive.connect(emu.url, emu.token)


@pytest.fixture(scope="module")
def docs(emu):
    return emu.job_docs()


# --- login -------------------------------------------------------------------------------


def test_connect_picks_the_default_provider(emu, provider):
    assert isinstance(provider.api_client, jobarchive.api.ApiClient)
    assert provider.credentials == {"hub": "ibm-q", "group": "open", "project": "main"}
    same = jobarchive.connect(emu.url, emu.token, hub="ibm-q", group="open", project="main")
    assert same.credentials == provider.credentials


def test_connect_picks_another_project_by_hub(emu):
    other = jobarchive.connect(emu.url, emu.token, hub="ibm-q-research")
    assert other.credentials["hub"] == "ibm-q-research"
    assert "/Network/ibm-q-research/Groups/" in other.api_client.project_url
    # The seeded history lives in the default project only.
    assert other.jobs(limit=None) == []


def test_connect_with_a_bad_token_says_so(emu):
    with pytest.raises(IBMQAccountCredentialsInvalidToken, match="refused") as info:
        jobarchive.connect(emu.url, "not-the-token")
    assert "not-the-token" not in str(info.value) and "not-the-token" not in repr(info.value)
    with pytest.raises(IBMQAccountCredentialsInvalidToken):
        jobarchive.connect(emu.url, "")


def test_connect_to_something_that_is_not_the_api(emu):
    with pytest.raises(IBMQAccountCredentialsInvalidUrl, match="not an IBM Quantum"):
        jobarchive.connect(emu.url + "/nothing-here", emu.token, max_retries=0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(IBMQAccountCredentialsInvalidUrl):
        jobarchive.connect(f"http://127.0.0.1:{port}/api", emu.token, max_retries=0)


@pytest.mark.parametrize("url", ["http://[::1", "ftp://example.org/api", "auth.example", "http://"])
def test_connect_refuses_a_malformed_url_before_any_request(url):
    with pytest.raises(IBMQAccountCredentialsInvalidUrl, match="not a valid http"):
        jobarchive.connect(url, "token")


def test_connect_to_an_unknown_hub_group_or_project(emu):
    for kwargs in ({"hub": "nope"}, {"group": "nope"}, {"project": "nope"}):
        with pytest.raises(IBMQProviderError, match="No provider matches"):
            jobarchive.connect(emu.url, emu.token, **kwargs)


# --- backends ----------------------------------------------------------------------------


def test_backends_and_their_calls(provider, docs):
    backends = provider.backends()
    assert backends
    names = [b.name() for b in backends]
    assert provider.backends(name=names[0])[0].name() == names[0]
    backend = provider.get_backend(names[0])
    assert backend.configuration()["backend_name"] == names[0]
    status = backend.status()
    assert status.backend_name == names[0] and status.pending_jobs >= 0
    assert isinstance(status.operational, bool)
    props = backend.properties()
    assert props is None or props["backend_name"] == names[0]
    with pytest.raises(IBMQBackendError, match="No backend matches the name 'no_such'"):
        provider.get_backend("no_such")
    assert "ibm-q" in repr(backend) and "ibm-q" in repr(provider)


def test_backend_jobs_and_retrieve_job(provider, docs):
    backend = provider.backends()[0]
    ids = _ids(backend.jobs(limit=None))
    assert ids == _reference(docs, backend_name=backend.name())
    if ids:
        job = backend.retrieve_job(ids[0])
        assert job.job_id() == ids[0] and job.backend() is backend
    other = next((d for d in docs if d["backend"]["name"] != backend.name()), None)
    if other is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(IBMQBackendError, match="does not belong to backend"):
                backend.retrieve_job(other["id"])


def test_retrieve_job_matches_the_server_document(emu, provider, docs):
    for doc in docs[:20]:
        job = provider.retrieve_job(doc["id"])
        want = IBMQJob.from_server(emu.job_doc(doc["id"])).to_dict()
        assert job.to_dict() == want


def test_retrieve_an_unknown_job(provider):
    with pytest.raises(IBMQBackendApiError, match=r"Failed to get job 0123456789abcdef01234567: .*3250"):
        provider.retrieve_job("0123456789abcdef01234567")


# --- jobs(): each filter, combinations, paging -------------------------------------------


def _pick_tags(docs, n=2):
    seen = []
    for d in docs:
        for t in d.get("tags") or []:
            if t not in seen:
                seen.append(t)
    return seen[:n]


def _cases(docs):
    backend = docs[0]["backend"]["name"]
    tags = _pick_tags(docs, 3)
    dates = sorted(_ms(d["creationDate"]) for d in docs)
    lo = datetime.fromtimestamp(dates[len(dates) // 4] / 1000, UTC)
    hi = datetime.fromtimestamp(dates[3 * len(dates) // 4] / 1000, UTC)
    name = next(d["name"] for d in docs if d.get("name"))
    fragment = name[1:4]
    return [
        ({}, {}),
        ({"backend_name": backend}, {"backend_name": backend}),
        *[({"status": s}, {"status": s}) for s in JobStatus],
        ({"status": "done"}, {"status": "done"}),
        ({"status": [JobStatus.ERROR, "CANCELLED"]}, {"status": [JobStatus.ERROR, "CANCELLED"]}),
        ({"job_name": fragment}, {"job_name": fragment}),
        ({"job_name": "^" + re.escape(name) + "$"}, {"job_name": "^" + re.escape(name) + "$"}),
        ({"start_datetime": lo}, {"start": lo}),
        ({"end_datetime": hi}, {"end": hi}),
        ({"start_datetime": lo, "end_datetime": hi}, {"start": lo, "end": hi}),
        ({"job_tags": tags[:1]}, {"tags": tags[:1]}),
        ({"job_tags": tags}, {"tags": tags}),
        ({"job_tags": tags[:2], "job_tags_operator": "and"}, {"tags": tags[:2], "operator": "AND"}),
        ({"descending": False}, {"descending": False}),
        ({"backend_name": backend, "status": "DONE", "start_datetime": lo},
         {"backend_name": backend, "status": "DONE", "start": lo}),
        ({"job_tags": tags, "status": [JobStatus.DONE, JobStatus.ERROR], "end_datetime": hi,
          "descending": False},
         {"tags": tags, "status": [JobStatus.DONE, JobStatus.ERROR], "end": hi, "descending": False}),
        ({"job_tags": tags[:2], "job_tags_operator": "AND", "job_name": fragment[:1],
          "start_datetime": lo, "end_datetime": hi},
         {"tags": tags[:2], "operator": "AND", "job_name": fragment[:1], "start": lo, "end": hi}),
    ]


def test_jobs_each_filter_and_combinations_match_plain_python(provider, docs):
    for kwargs, ref in _cases(docs):
        want = _reference(docs, **ref)
        got = _ids(provider.jobs(limit=None, **kwargs))
        assert got == want, kwargs
        # The default limit and an odd limit cut the same list, across page boundaries.
        assert _ids(provider.jobs(**kwargs)) == want[:10], kwargs
        assert _ids(provider.jobs(limit=47, **kwargs)) == want[:47], kwargs
        assert _ids(provider.jobs(limit=30, skip=5, **kwargs)) == want[5:35], kwargs


def test_jobs_with_db_filter(provider, docs):
    hub = docs[0]["hubInfo"]["hub"]["name"]
    got = _ids(provider.jobs(limit=None, db_filter={"hubInfo.hub.name": hub}))
    assert got == _reference(docs, where=lambda d: d["hubInfo"]["hub"]["name"] == hub)
    some = [d["id"] for d in docs[::7]]
    # An id filter must survive the keyset paging, which adds its own id condition.
    got = _ids(provider.jobs(limit=None, db_filter={"id": {"inq": some}}))
    assert got == _reference(docs, where=lambda d: d["id"] in some)
    # db_filter's or/and lists join the argument-built ones; arguments win on equal keys.
    backend = docs[0]["backend"]["name"]
    got = _ids(provider.jobs(limit=None, status=[JobStatus.DONE], backend_name=backend,
                             db_filter={"or": [{"status": "CANCELLED"}],
                                        "backend.name": "overridden"}))
    assert got == _reference(docs, backend_name=backend, status=["DONE", "CANCELLED"])


def test_jobs_dates_are_local_time(provider, docs, monkeypatch):
    dates = sorted(_ms(d["creationDate"]) for d in docs)
    lo_utc = datetime.fromtimestamp(dates[len(dates) // 3] / 1000, UTC)
    want = _reference(docs, start=lo_utc)
    # An aware datetime in another zone is converted exactly.
    aware = lo_utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert _ids(provider.jobs(limit=None, start_datetime=aware)) == want
    if not hasattr(time, "tzset"):
        return
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        naive_local = lo_utc.astimezone().replace(tzinfo=None)  # the same instant, local wall time
        assert naive_local != lo_utc.replace(tzinfo=None)
        assert _ids(provider.jobs(limit=None, start_datetime=naive_local)) == want
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_jobs_filter_values_are_validated_with_upstream_messages(provider):
    with pytest.raises(IBMQBackendValueError, match=re.escape(
            '"bogus" is not a valid status value. Valid values are INITIALIZING, QUEUED, '
            "VALIDATING, RUNNING, CANCELLED, DONE, ERROR")):
        provider.jobs(status="bogus")
    with pytest.raises(IBMQBackendValueError, match=re.escape(
            '"XOR" is not a valid job_tags_operator value. Valid values are "AND" and "OR"')):
        provider.jobs(job_tags=["a"], job_tags_operator="XOR")
    for bad in ("a", ["a", 1], ("a",)):
        with pytest.raises(IBMQBackendValueError, match="job_tags needs to be a list or strings."):
            provider.jobs(job_tags=bad)
    with pytest.raises(IBMQBackendValueError, match="start_datetime"):
        provider.jobs(start_datetime="yesterday")
    with pytest.raises(IBMQBackendValueError, match="limit"):
        provider.jobs(limit=-1)


def test_build_where_matches_the_reference_example():
    where = build_where(backend_name="ibmq_athens", status="DONE", job_name="bell",
                        start_datetime=datetime(2020, 10, 1, tzinfo=UTC),
                        end_datetime=datetime(2020, 10, 31, tzinfo=UTC),
                        job_tags=["exp1", "v2"], job_tags_operator="AND")
    assert where == {"backend.name": "ibmq_athens", "status": "COMPLETED",
                     "name": {"regexp": "bell"},
                     "creationDate": {"between": ["2020-10-01T00:00:00+00:00",
                                                  "2020-10-31T00:00:00+00:00"]},
                     "and": [{"tags": "exp1"}, {"tags": "v2"}]}
    assert build_where(status=JobStatus.ERROR) == {"status": {"regexp": "^ERROR"}}
    assert build_where(status=[JobStatus.INITIALIZING]) == {
        "or": [{"status": {"inq": ["CREATING", "CREATED"]}}]}
    assert build_where(job_tags=["a", "b"]) == {"tags": {"inq": ["a", "b"]}}


def test_paging_keeps_ties_on_the_boundary_date():
    """Many jobs share creation dates: no page boundary (after any skip) repeats or loses one."""
    import random

    from jobarchive.emulator.filters import filter_docs

    rng = random.Random(7)
    for _ in range(300):
        docs = [{"id": f"job{i:03d}", "creationDate": f"2021-01-0{rng.randint(1, 4)}T00:00:00.000Z",
                 "status": rng.choice(["COMPLETED", "CANCELLED"]), "backend": {"name": "b"}}
                for i in range(rng.randint(0, 40))]
        calls = []

        class PagedList:  # the emulator's own filter evaluation, without the HTTP
            def list_jobs(self, flt, full=False, docs=docs, calls=calls):
                calls.append(flt)
                return filter_docs(docs, flt)

        descending = rng.random() < 0.5
        where = rng.choice([None, {"status": "COMPLETED"}, {"id": {"nin": ["job001", "job005"]}}])
        skip, size = rng.randint(0, 10), rng.randint(1, 8)
        limit = rng.choice([None, rng.randint(1, 30)])
        order = "creationDate DESC" if descending else "creationDate ASC"
        want = [d["id"] for d in filter_docs(docs, {"order": order, "where": where})][skip:]
        want = want if limit is None else want[:limit]
        got = [d["id"] for d in iter_pages(PagedList(), where, descending, limit, skip, size)]
        assert got == want, (descending, where, skip, limit, size)
        # Keyset pages after the first: no offset, but for learning the skipped part of one
        # tie group (bounded by the skip and a page, whatever the history's size).
        assert calls[0]["skip"] == skip and all(c["skip"] == 0 or c["skip"] < skip + size
                                                for c in calls[1:])


def test_limit_none_over_5000_jobs_pages_by_keyset():
    with Emulator(seed_jobs=5000, seed=5) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        docs = emu.job_docs()
        before = provider.api_client.request_count
        jobs = provider.jobs(limit=None)
        assert _ids(jobs) == _reference(docs)
        pages = provider.api_client.request_count - before
        assert pages <= -(-5000 // UNLIMITED_PAGE_SIZE) + 2  # + the empty page (+ backends)
        tags = _pick_tags(docs, 2)
        got = _ids(provider.jobs(limit=None, job_tags=tags, status=["DONE", "ERROR"],
                                 descending=False))
        assert got == _reference(docs, tags=tags, status=["DONE", "ERROR"], descending=False)
        raw = [d["id"] for d in provider.iter_job_docs(page_size=700, descending=False)]
        assert raw == _reference(docs, descending=False)
        assert [d["id"] for d in provider.iter_job_docs(limit=1234)] == _reference(docs)[:1234]


def test_iter_job_docs_with_a_where(provider, docs):
    mid = sorted(d["creationDate"] for d in docs)[len(docs) // 2]
    where = {"creationDate": {"gte": mid}, "status": {"inq": ["COMPLETED", "CANCELLED"]}}
    got = [d["id"] for d in provider.iter_job_docs(where=where, descending=False, page_size=13)]
    want = _reference(docs, descending=False, where=lambda d: _ms(d["creationDate"]) >= _ms(mid)
                      and d["status"] in ("COMPLETED", "CANCELLED"))
    assert got == want


def test_listed_jobs_are_reduced_until_refreshed(provider, docs):
    job = provider.jobs(limit=1, status="DONE")[0]
    assert job.to_dict()["time_per_step"] is None
    job.refresh()
    assert job.to_dict()["time_per_step"]



def test_status_filters_over_active_jobs():
    """Every JobStatus filter, with jobs in every state (the clock barely moves)."""
    from jobarchive.qobj import qobj_from_circuits

    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    qobj = qobj_from_circuits(circuit, shots=8)
    with Emulator(seed_jobs=50, seed_active=60, seed=8, time_scale=1e-6) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        emu.advance(2500)  # some seeded queued jobs start running or finish
        for step in (6.5, 1.2, 0.4, 0.0):  # submitted jobs caught at different steps
            provider.backends()[0].run(qobj)
            emu.advance(step)
        docs = emu.job_docs()
        present = {to_job_status(d["status"]) for d in docs}
        assert {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.VALIDATING,
                JobStatus.INITIALIZING} <= present
        for status in JobStatus:
            got = _ids(provider.jobs(limit=None, status=status))
            assert got == _reference(docs, status=status), status
        active = [JobStatus.INITIALIZING, JobStatus.VALIDATING, JobStatus.QUEUED, JobStatus.RUNNING]
        assert _ids(provider.jobs(limit=None, status=active)) == _reference(docs, status=active)
        backend = provider.backends()[0]
        assert _ids(backend.active_jobs(limit=None)) == _reference(
            docs, status=active, backend_name=backend.name())
