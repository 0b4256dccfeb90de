"""The emulator's filter semantics where the real server (LoopBack on MongoDB) is peculiar."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.emulator.filters import filter_docs

emulator = pytest.importorskip("jobarchive.emulator")

DOCS = [{"id": f"j{i}", "creationDate": f"2021-01-{i + 1:02d}T00:00:00.000Z", "n": i}
        for i in range(10)]


def _ids(where):
    return [d["id"] for d in filter_docs(DOCS, {"order": "creationDate ASC", "where": where})]


def test_only_the_first_operator_of_a_condition_object_applies():
    # loopback-connector-mongodb's buildWhere takes Object.keys(cond)[0]: the rest is ignored.
    assert _ids({"creationDate": {"gte": "2021-01-04T00:00:00Z", "lte": "2021-01-06T00:00:00Z"}}) \
        == [f"j{i}" for i in range(3, 10)]
    assert _ids({"creationDate": {"lte": "2021-01-06T00:00:00Z", "gte": "2021-01-04T00:00:00Z"}}) \
        == [f"j{i}" for i in range(0, 6)]
    assert _ids({"n": {"gt": 2, "lt": 5}}) == [f"j{i}" for i in range(3, 10)]
    # The ways to say both: between, or an `and` of two conditions.
    assert _ids({"creationDate": {"between": ["2021-01-04T00:00:00Z", "2021-01-06T00:00:00Z"]}}) \
        == ["j3", "j4", "j5"]
    assert _ids({"and": [{"n": {"gt": 2}}, {"n": {"lt": 5}}]}) == ["j3", "j4"]


def test_the_served_list_applies_only_the_first_operator_too():
    with emulator.Emulator(seed_jobs=30, seed=2) as emu:
        client = jobarchive.connect(emu.url, emu.token).api_client
        docs = sorted(emu.job_docs(), key=lambda d: d["creationDate"])
        lo, hi = docs[5]["creationDate"], docs[9]["creationDate"]
        got = client.list_jobs({"order": "creationDate ASC",
                                "where": {"creationDate": {"gte": lo, "lte": hi}}})
        assert [d["id"] for d in got] == [d["id"] for d in docs[5:]]
        # The date scan narrowing follows the same rule (the upper bound is not used).
        got = client.list_jobs({"order": "creationDate DESC", "limit": 3,
                                "where": {"creationDate": {"gte": lo, "lte": hi}}})
        assert [d["id"] for d in got] == [d["id"] for d in docs[::-1][:3]]


def test_dates_with_more_than_milliseconds_are_truncated_as_javascript_does():
    # The server parses filter dates with JavaScript's Date: digits past the milliseconds are
    # dropped, never rounded up (a rounded bound would move across a job's date).
    from jobarchive.emulator.filters import parse_date_ms

    assert parse_date_ms("2021-01-05T00:00:00.9999Z") % 1000 == 999
    assert parse_date_ms("2021-01-05T00:00:00.000999+00:00") == \
        parse_date_ms("2021-01-05T00:00:00.000Z")
    assert _ids({"creationDate": {"lte": "2021-01-03T23:59:59.9999Z"}}) == ["j0", "j1", "j2"]
    assert parse_date_ms("9999-12-31T23:59:59.999999Z") % 1000 == 999


def test_hubs_are_listed_as_the_real_server_lists_them_and_connect_picks_the_default():
    import requests

    with emulator.Emulator(seed_jobs=1, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        assert provider.credentials == {"hub": "ibm-q", "group": "open", "project": "main"}
        hubs = requests.get(f"{emu.url}/Network", timeout=10, headers={
            "X-Access-Token": provider.api_client._token.value}).json()
        # Recorded (ibmqclient_jl_records/hubs.json): the default hub comes second.
        assert [h["name"] for h in hubs] == ["ibm-q-research", "ibm-q"]
        assert [h["isDefault"] for h in hubs] == [False, True]
