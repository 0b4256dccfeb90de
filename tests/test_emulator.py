"""The emulator over real sockets: login, filters, paging, lifecycle, faults, security."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits

HUB = "/Network/ibm-q/Groups/open/Projects/main"


class Client:
    """A minimal raw client: the login flow, then authenticated calls."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.s = requests.Session()
        self.s.headers["X-Qx-Client-Application"] = "qiskit-terra,qiskit-ibmq-provider/0.16.1,0.11.1"
        r = self.s.post(f"{emu.url}/users/loginWithToken", json={"apiToken": emu.token})
        assert r.status_code == 200
        self.s.headers["X-Access-Token"] = r.json()["id"]
        self.p = f"{emu.url}{HUB}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.s.get(self.p + path, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.s.post(self.p + path, timeout=30, **kw)

    def put(self, path: str, **kw) -> requests.Response:
        return self.s.put(self.p + path, timeout=30, **kw)

    def jobs(self, flt: dict) -> list[dict]:
        r = self.get("/Jobs/status/v/1", params={"filter": json.dumps(flt)})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed_jobs=1500, seed=11) as e:
        yield e


@pytest.fixture(scope="module")
def client(emu):
    return Client(emu)


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _ordered(docs: list[dict], descending: bool = True) -> list[str]:
    return [d["id"] for d in sorted(docs, key=lambda d: (_ms(d["creationDate"]), d["id"]),
                                    reverse=descending)]


# -- login flow and auth ------------------------------------------------------------------------

def test_login_flow_and_hubs_and_devices(emu):
    s = requests.Session()
    v = s.get(f"{emu.url}/version")
    assert v.status_code == 200 and "api-auth" in v.json()
    login = s.post(f"{emu.url}/users/loginWithToken", json={"apiToken": emu.token}).json()
    access = login["id"]
    assert access and access != emu.token
    me = s.get(f"{emu.url}/users/me", headers={"X-Access-Token": access}).json()
    assert me["urls"]["http"] == emu.url
    hubs = s.get(f"{emu.url}/Network", headers={"X-Access-Token": access}).json()
    defaults = [(h["name"], g, p) for h in hubs for g, gv in h["groups"].items()
                for p, pv in gv["projects"].items() if pv.get("isDefault")]
    assert defaults == [("ibm-q", "open", "main")]
    devices = s.get(f"{emu.url}{HUB}/devices/v/1", headers={"X-Access-Token": access}).json()
    names = {d["backend_name"] for d in devices}
    assert {"ibmq_qasm_simulator", "ibmq_athens", "ibmq_lima", "ibmq_belem"} <= names
    required = {"backend_name", "backend_version", "n_qubits", "basis_gates", "gates", "local",
                "simulator", "conditional", "open_pulse", "memory", "max_shots", "coupling_map"}
    assert all(required <= set(d) for d in devices)
    b = f"{emu.url}{HUB}/devices/ibmq_athens"
    h = {"X-Access-Token": access}
    assert s.get(f"{b}/queue/status", headers=h).json()["state"] is True
    props = s.get(f"{b}/properties", params={"version": 1}, headers=h).json()
    assert props["backend_name"] == "ibmq_athens" and len(props["qubits"]) == 5
    assert s.get(f"{b}/jobsLimit", headers=h).json()["maximumJobs"] == -1


@pytest.mark.parametrize("path", ["/users/me", "/Network", f"{HUB}/devices/v/1",
                                  f"{HUB}/Jobs/status/v/1", f"{HUB}/Jobs/abc/v/1"])
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_bad_or_missing_token_is_401(emu, path, token):
    headers = {} if token is None else {"X-Access-Token": token}
    r = requests.get(emu.url + path, headers=headers)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["statusCode"] == 401 and err["code"] == "AUTHORIZATION_REQUIRED"
    assert err["message"] == "Authorization Required"


def test_login_with_a_wrong_api_token_is_refused_and_the_user_token_is_no_access_token(emu):
    r = requests.post(f"{emu.url}/users/loginWithToken", json={"apiToken": "nope"})
    assert r.status_code == 401 and "error" in r.json()
    r = requests.get(f"{emu.url}/Network", headers={"X-Access-Token": emu.token})
    assert r.status_code == 401
    assert emu.token not in repr(emu)


def test_binds_localhost_by_default():
    with Emulator() as e:
        assert e.host == "127.0.0.1"
        assert e._server.server_address[0] == "127.0.0.1"
        assert e.url.startswith("http://127.0.0.1:")


# -- listing --------------------------------------------------------------------------------------

def _where_cases(docs):
    mid = sorted(d["creationDate"] for d in docs)[len(docs) // 2]
    lo = sorted(d["creationDate"] for d in docs)[len(docs) // 4]
    mid_iso = datetime.fromisoformat(mid.replace("Z", "+00:00")).isoformat()
    lo_iso = datetime.fromisoformat(lo.replace("Z", "+00:00")).isoformat()
    some_id = docs[7]["id"]
    return [
        ({"status": "COMPLETED"}, lambda d: d["status"] == "COMPLETED"),
        ({"backend.name": "ibmq_athens"}, lambda d: d["backend"]["name"] == "ibmq_athens"),
        ({"status": {"inq": ["CANCELLED", "ERROR_RUNNING_JOB"]}},
         lambda d: d["status"] in ("CANCELLED", "ERROR_RUNNING_JOB")),
        ({"status": {"nin": ["COMPLETED"]}}, lambda d: d["status"] != "COMPLETED"),
        ({"status": {"regexp": "^ERROR"}}, lambda d: d["status"].startswith("ERROR")),
        ({"name": {"regexp": "bell"}}, lambda d: "bell" in (d.get("name") or "")),
        ({"name": {"regexp": "/^GHZ/i"}}, lambda d: (d.get("name") or "").lower().startswith("ghz")),
        ({"tags": {"inq": ["exp1", "vqe"]}}, lambda d: bool({"exp1", "vqe"} & set(d.get("tags") or []))),
        ({"and": [{"tags": "exp1"}, {"tags": "exp2"}]},
         lambda d: {"exp1", "exp2"} <= set(d.get("tags") or [])),
        ({"tags": {"regexp": "^ibmq_jobset_"}},
         lambda d: any(t.startswith("ibmq_jobset_") for t in d.get("tags") or [])),
        ({"creationDate": {"gte": mid_iso}}, lambda d: d["creationDate"] >= mid),
        ({"creationDate": {"gt": mid_iso}}, lambda d: d["creationDate"] > mid),
        ({"creationDate": {"lte": mid_iso}}, lambda d: d["creationDate"] <= mid),
        ({"creationDate": {"lt": mid}}, lambda d: d["creationDate"] < mid),
        ({"creationDate": {"between": [lo_iso, mid_iso]}}, lambda d: lo <= d["creationDate"] <= mid),
        ({"hubInfo.hub.name": "ibm-q"}, lambda d: True),
        ({"hubInfo.hub.name": "other"}, lambda d: False),
        ({"id": {"nin": [some_id]}, "creationDate": {"lte": mid}},
         lambda d: d["id"] != some_id and d["creationDate"] <= mid),
        ({"or": [{"shareLevel": "global"}, {"and": [{"runMode": "dedicated"},
                                                    {"backend.name": {"inq": ["ibmq_lima"]}}]}]},
         lambda d: d.get("shareLevel") == "global"
         or (d.get("runMode") == "dedicated" and d["backend"]["name"] == "ibmq_lima")),
        ({"backend.name": "ibmq_qasm_simulator", "status": "COMPLETED",
          "name": {"regexp": "e"}, "creationDate": {"between": [lo_iso, mid_iso]},
          "and": [{"tags": {"inq": ["exp1", "exp2", "exp3"]}}]},
         lambda d: d["backend"]["name"] == "ibmq_qasm_simulator" and d["status"] == "COMPLETED"
         and "e" in (d.get("name") or "") and lo <= d["creationDate"] <= mid
         and bool({"exp1", "exp2", "exp3"} & set(d.get("tags") or []))),
    ]


def test_list_filters_match_a_plain_python_filter(emu, client):
    docs = emu.job_docs()
    for where, pred in _where_cases(docs):
        want = [d for d in docs if pred(d)]
        for descending in (True, False):
            got = client.jobs({"order": f"creationDate {'DESC' if descending else 'ASC'}",
                               "where": where})
            assert [d["id"] for d in got] == _ordered(want, descending), where
        page = client.jobs({"order": "creationDate DESC", "limit": 7, "skip": 3, "where": where})
        assert [d["id"] for d in page] == _ordered(want)[3:10], where


def test_list_documents_are_reduced_and_fields_project(emu, client):
    docs = client.jobs({"order": "creationDate DESC", "limit": 20})
    assert len(docs) == 20
    for d in docs:
        assert {"id", "status", "creationDate", "backend", "kind"} <= set(d)
        assert "timePerStep" not in d and "qObjectResult" not in d and "qObject" not in d
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["creationDate"])
    slim = client.get("/Jobs/v/1", params={"filter": json.dumps(
        {"order": "creationDate DESC", "limit": 3,
         "fields": {"id": True, "creationDate": True}})}).json()
    assert [set(d) for d in slim] == [{"id", "creationDate"}] * 3


def test_keyset_paging_walks_everything_once(emu, client):
    everything = _ordered(emu.job_docs())
    seen: list[str] = []
    flt: dict = {"order": "creationDate DESC", "limit": 37, "skip": 0}
    while True:
        page = client.jobs(flt)
        if not page:
            break
        seen += [d["id"] for d in page]
        last = page[-1]
        flt = {"order": "creationDate DESC", "limit": 37, "skip": 0,
               "where": {"creationDate": {"lte": last["creationDate"]},
                         "id": {"nin": [last["id"]]}}}
    assert seen == everything


@pytest.mark.parametrize("raw", [
    "{not json", "[1, 2]", '"text"', json.dumps({"where": {"status": {"like2": "x"}}}),
    json.dumps({"where": {"name": {"regexp": "(unclosed"}}}),
    json.dumps({"where": {"status": {"inq": "COMPLETED"}}}),
    json.dumps({"where": {"creationDate": {"between": ["2020-01-01"]}}}),
    json.dumps({"where": {"and": {"status": "COMPLETED"}}}),
    json.dumps({"order": "name DESC"}), json.dumps({"limit": -1}), json.dumps({"bogus": 1}),
    json.dumps({"where": {"status": {"gt": {"a": 1}}}}),
    "[" * 5000 + "]" * 5000,
])
def test_bad_filters_are_400_not_a_crash(client, raw):
    r = client.get("/Jobs/status/v/1", params={"filter": raw})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["statusCode"] == 400
    assert client.get("/Jobs/status/v/1", params={"filter": '{"limit": 1}'}).status_code == 200


# -- job endpoints ---------------------------------------------------------------------------------

def test_job_get_status_result_qobj_and_unknown_ids(emu, client):
    docs = emu.job_docs()
    done = next(d for d in docs if d["status"] == "COMPLETED")
    full = client.get(f"/Jobs/{done['id']}/v/1").json()
    assert full == emu.job_doc(done["id"])
    assert list(full["timePerStep"])[-1] == "COMPLETED" and full["runMode"]
    status = client.get(f"/Jobs/{done['id']}/status/v/1").json()
    assert status["status"] == "COMPLETED" and status["id"] == done["id"]
    url = client.get(f"/Jobs/{done['id']}/resultDownloadUrl").json()["url"]
    result = requests.get(url).json()
    assert result == emu.result_of(done["id"])
    assert client.post(f"/Jobs/{done['id']}/resultDownloaded").status_code == 200
    qobj = emu.qobj_of(done["id"])
    assert requests.get(client.get(f"/Jobs/{done['id']}/jobDownloadUrl").json()["url"]).json() == qobj
    for exp_result, exp in zip(result["results"], qobj["experiments"], strict=True):
        counts = exp_result["data"]["counts"]
        assert sum(counts.values()) == exp_result["shots"] == qobj["config"]["shots"]
        assert all(int(k, 16) < 2 ** exp["header"]["memory_slots"] for k in counts)
    # an unsigned storage URL is refused
    assert requests.get(url.split("?")[0]).status_code == 403
    missing = client.get("/Jobs/ffffffffffffffffffffffff/v/1")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 3250
    for bad in ("..%2F..%2Fetc", "a" * 200, "x%00y"):
        assert client.get(f"/Jobs/{bad}/v/1").status_code in (400, 404)
    err = next(d for d in docs if d["status"].startswith("ERROR"))
    assert set(emu.job_doc(err["id"])["error"]) >= {"code", "message"}


def test_update_name_and_tags_echo_and_update_job(emu, client):
    job_id = emu.job_docs()[3]["id"]
    assert client.put(f"/Jobs/{job_id}", json={"name": "renamed"}).json() == {"name": "renamed"}
    tags = ["a", "ibmq_jobset_x", "b"]
    assert client.put(f"/Jobs/{job_id}", json={"tags": tags}).json() == {"tags": tags}
    doc = client.get(f"/Jobs/{job_id}/v/1").json()
    assert doc["name"] == "renamed" and doc["tags"] == tags
    for bad in ({"tags": "a"}, {"tags": [1]}, {"name": 5}, {"owner": "x"}, {}):
        assert client.put(f"/Jobs/{job_id}", json=bad).status_code == 400
    emu.update_job(job_id, name="elsewhere", tags=["z"])
    listed = client.jobs({"where": {"id": job_id}})
    assert listed[0]["name"] == "elsewhere" and listed[0]["tags"] == ["z"]


def _bell_qobj(shots: int = 1000) -> dict:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qobj_from_circuits(qc, shots=shots)


def _submit(client: Client, qobj_body: bytes, backend: str = "ibmq_qasm_simulator",
            **extra) -> str:
    created = client.post("/Jobs", json={"backend": {"name": backend},
                                         "allowObjectStorage": True, **extra})
    assert created.status_code == 200, created.text
    doc = created.json()
    assert doc["status"] == "CREATING"
    up = requests.put(doc["objectStorageInfo"]["uploadUrl"], data=qobj_body,
                      headers={"Content-Type": "application/json"})
    assert up.status_code == 200
    confirmed = client.post(f"/Jobs/{doc['id']}/jobDataUploaded")
    assert confirmed.status_code == 200
    assert confirmed.json()["job"]["id"] == doc["id"]
    return doc["id"]


@pytest.fixture
def frozen():
    """An emulator whose clock only moves when the test advances it."""
    with Emulator(seed_jobs=5, seed=2, time_scale=1e-9) as e:
        yield e, Client(e)


def test_lifecycle_to_completed_with_real_counts(frozen):
    emu, client = frozen
    qobj = _bell_qobj()
    job_id = _submit(client, json.dumps(qobj).encode(), name="bell-run", tags=["t1"])
    seen = []
    for _ in range(200):
        st = client.get(f"/Jobs/{job_id}/status/v/1").json()
        if not seen or seen[-1] != st["status"]:
            seen.append(st["status"])
            if st["status"] == "QUEUED":
                assert st["infoQueue"]["position"] >= 1
        if st["status"] == "COMPLETED":
            break
        emu.advance(0.25)
    assert seen == ["CREATED", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED"]
    doc = client.get(f"/Jobs/{job_id}/v/1").json()
    assert list(doc["timePerStep"]) == ["CREATING", *seen]
    assert doc["runMode"] == "fairshare" and "infoQueue" not in doc
    assert doc["clientInfo"] == {"name": "qiskit-terra,qiskit-ibmq-provider",
                                 "version": "0.16.1,0.11.1"}
    assert doc["name"] == "bell-run" and doc["tags"] == ["t1"]
    result = requests.get(client.get(f"/Jobs/{job_id}/resultDownloadUrl").json()["url"]).json()
    counts = result["results"][0]["data"]["counts"]
    assert set(counts) <= {"0x0", "0x3"} and sum(counts.values()) == 1000
    assert result["job_id"] == job_id and emu.result_of(job_id) == result
    assert emu.qobj_of(job_id) == qobj


@pytest.mark.parametrize("body", [
    b"{this is not json", json.dumps({"experiments": []}).encode(),
    json.dumps({"type": "QASM", "experiments": [{"instructions": [{"name": "nogate",
                                                                   "qubits": [0]}]}]}).encode(),
])
def test_malformed_qobj_ends_in_error_validating_job(frozen, body):
    emu, client = frozen
    job_id = _submit(client, body)
    emu.advance(5)
    doc = client.get(f"/Jobs/{job_id}/v/1").json()
    assert doc["status"] == "ERROR_VALIDATING_JOB"
    assert isinstance(doc["error"]["code"], int) and doc["error"]["message"]
    assert "RUNNING" not in doc["timePerStep"]
    assert client.get(f"/Jobs/{job_id}/resultDownloadUrl").status_code == 404


def test_cancel_until_final_then_an_error(frozen):
    emu, client = frozen
    job_id = _submit(client, json.dumps(_bell_qobj()).encode(), backend="ibmq_athens")
    emu.advance(2)
    assert client.get(f"/Jobs/{job_id}/status/v/1").json()["status"] == "QUEUED"
    r = client.post(f"/Jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json() == {"cancelled": True}
    emu.advance(100)
    doc = client.get(f"/Jobs/{job_id}/v/1").json()
    assert doc["status"] == "CANCELLED" and "CANCELLED" in doc["timePerStep"]
    again = client.post(f"/Jobs/{job_id}/cancel")
    assert again.status_code == 400 and "error" in again.json()
    done = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
    assert client.post(f"/Jobs/{done}/cancel").status_code == 400
    assert client.get(f"/Jobs/{job_id}/resultDownloadUrl").status_code == 404


def test_submit_validation_and_job_limit():
    with Emulator(seed_jobs=0, time_scale=1e-9, job_limit=1) as emu:
        client = Client(emu)
        assert client.post("/Jobs", json={"backend": {"name": "nope"}}).status_code == 400
        assert client.post("/Jobs", json={"backend": {"name": "ibmq_16_melbourne"}}).status_code == 400
        assert client.post("/Jobs", json={"backend": {"name": "ibmq_lima"},
                                          "tags": "x"}).status_code == 400
        _submit(client, json.dumps(_bell_qobj()).encode(), backend="ibmq_lima")
        limited = client.post("/Jobs", json={"backend": {"name": "ibmq_lima"}})
        assert limited.status_code == 400 and limited.json()["error"]["code"] == 3458
        assert client.get(f"{'/devices/ibmq_lima/jobsLimit'}").json() == {
            "maximumJobs": 1, "runningJobs": 1}


def test_active_jobs_move_forward_on_the_clock():
    with Emulator(seed_jobs=3, seed_active=6, seed=4, time_scale=1e-9) as emu:
        before = {d["id"]: d["status"] for d in emu.job_docs()}
        assert sum(s not in ("COMPLETED", "CANCELLED") and not s.startswith("ERROR")
                   for s in before.values()) == 6
        emu.advance(3 * 3600)
        after = {d["id"]: d["status"] for d in emu.job_docs()}
        assert all(s in ("COMPLETED", "CANCELLED") or s.startswith("ERROR")
                   for s in after.values())
        for job_id, status in after.items():
            if status == "COMPLETED":
                assert emu.result_of(job_id)["results"]


# -- faults, stats, limits --------------------------------------------------------------------------

def test_faults_at_the_given_rate_and_never_on_login(emu):
    client = Client(emu)
    job_id = emu.job_docs()[0]["id"]
    emu.set_faults({"rate": 0.3, "kinds": ["500", "502", "503", "504", "429", "latency", "drop",
                                           "malformed"],
                    "latency": 0.001, "retry_after": 0, "seed": 5})
    try:
        kinds: dict[str, int] = {}
        n = 300
        for _ in range(n):
            try:
                r = client.get(f"/Jobs/{job_id}/v/1")
            except requests.ConnectionError:
                kinds["drop"] = kinds.get("drop", 0) + 1
                continue
            if r.status_code != 200:
                kinds[str(r.status_code)] = kinds.get(str(r.status_code), 0) + 1
                if r.status_code == 429:
                    assert r.headers["Retry-After"] == "0"
                assert r.json()["error"]["statusCode"] == r.status_code
                continue
            try:
                assert r.json()["id"] == job_id
            except (ValueError, KeyError):
                kinds["malformed"] = kinds.get("malformed", 0) + 1
        failed = sum(kinds.values())
        assert 0.15 * n < failed < 0.35 * n, kinds
        assert {"500", "503", "429", "drop", "malformed"} <= set(kinds), kinds
        for _ in range(20):  # the login flow (version, login, me, hubs, devices) is spared
            assert requests.get(f"{emu.url}/version").status_code == 200
            fresh = Client(emu)
            assert fresh.s.get(f"{emu.url}/users/me").status_code == 200
            assert fresh.s.get(f"{emu.url}/Network").status_code == 200
            assert fresh.get("/devices/v/1").status_code == 200
    finally:
        emu.set_faults(None)
    assert client.get(f"/Jobs/{job_id}/v/1").status_code == 200
    with pytest.raises(ValueError):
        emu.set_faults({"rate": 2})
    with pytest.raises(ValueError):
        emu.set_faults({"rate": 0.1, "kinds": ["teapot"]})


def test_faults_can_target_endpoints():
    with Emulator(seed_jobs=3, faults={"rate": 1.0, "kinds": ["503"], "endpoints": ["login"]}) as emu:
        r = requests.post(f"{emu.url}/users/loginWithToken", json={"apiToken": emu.token})
        assert r.status_code == 503
        emu.set_faults(None)
        assert Client(emu).get("/devices/v/1").status_code == 200


def test_stats_count_requests_per_endpoint(emu, client):
    emu.reset_stats()
    client.jobs({"limit": 1})
    client.get("/devices/v/1")
    client.get("/devices/v/1")
    stats = emu.stats()
    assert stats == {"total": 3, "jobs_list": 1, "devices": 2}
    emu.reset_stats()
    assert emu.stats() == {"total": 0}


def test_request_bodies_are_capped():
    with Emulator(seed_jobs=1, max_body=1000) as emu:
        client = Client(emu)
        r = client.post("/Jobs", data=b"x" * 5000, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["statusCode"] == 413
        assert client.get("/devices/v/1").status_code == 200
    with Emulator(seed_jobs=1) as emu:  # the default cap, without sending the body
        with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
            sock.sendall(b"POST /api/users/loginWithToken HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 900000000\r\n\r\n")
            head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 413")


# -- the seeded history ----------------------------------------------------------------------------

def test_seeded_history_is_deterministic_and_varied():
    with Emulator(seed_jobs=400, seed=21) as a, Emulator(seed_jobs=400, seed=21) as b, \
            Emulator(seed_jobs=400, seed=22) as c:
        docs_a, docs_b = a.job_docs(), b.job_docs()
        assert docs_a == docs_b
        assert [d["id"] for d in docs_a] != [d["id"] for d in c.job_docs()]
        for d in docs_a[::40]:
            assert a.result_of(d["id"]) == b.result_of(d["id"]) == a.result_of(d["id"])
            assert a.qobj_of(d["id"]) == b.qobj_of(d["id"])
    statuses = {d["status"] for d in docs_a}
    assert {"COMPLETED", "CANCELLED"} <= statuses and any(s.startswith("ERROR") for s in statuses)
    assert len({d["backend"]["name"] for d in docs_a}) >= 4
    assert any(t.startswith("ibmq_jobset_") for d in docs_a for t in d.get("tags") or [])
    years = {d["creationDate"][:4] for d in docs_a}
    assert len(years) >= 3
    assert len({d.get("shareLevel") for d in docs_a}) >= 3
    # As real documents: a job given no tags or share level has no such field.
    assert any("tags" not in d for d in docs_a) and any("shareLevel" not in d for d in docs_a)
    assert len({d.get("runMode") for d in docs_a}) >= 2


def test_seeding_100k_jobs_and_listing_them():
    with Emulator(seed_jobs=100_000, seed=1) as emu:
        client = Client(emu)
        assert len(emu._state.jobs) == 100_000
        newest = client.jobs({"order": "creationDate DESC", "limit": 5})
        oldest = client.jobs({"order": "creationDate ASC", "limit": 5,
                              "where": {"creationDate": {"gte": "2021-01-01T00:00:00+00:00"}}})
        assert len(newest) == len(oldest) == 5
        assert all(d["creationDate"] >= "2021-01-01" for d in oldest)
        assert newest[0]["creationDate"] > oldest[0]["creationDate"]


def test_main_prints_url_and_token_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "jobarchive.emulator", "--port", "0",
                             "--seed-jobs", "3", "--seed", "2"],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = next(ln.split()[-1] for ln in lines if "url:" in ln)
        token = next(ln.split()[-1] for ln in lines if "token:" in ln)
        assert url.startswith("http://127.0.0.1:")
        r = requests.post(f"{url}/users/loginWithToken", json={"apiToken": token}, timeout=10)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_result_dates_and_counts_are_utc_strings(emu):
    done = next(d for d in emu.job_docs() if d["status"] == "COMPLETED")
    result = emu.result_of(done["id"])
    datetime.fromisoformat(result["date"].replace("Z", "+00:00")).astimezone(UTC)


def test_concurrent_clients_are_served(emu):
    from concurrent.futures import ThreadPoolExecutor

    ids = [d["id"] for d in emu.job_docs()[:40]]

    def work(i: int) -> int:
        c = Client(emu)
        ok = 0
        for j in range(15):
            job_id = ids[(i * 7 + j) % len(ids)]
            ok += c.get(f"/Jobs/{job_id}/status/v/1").json()["id"] == job_id
            ok += len(c.jobs({"order": "creationDate DESC", "limit": 5, "skip": j})) == 5
        return ok

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(work, range(8))) == 8 * 30


@pytest.mark.parametrize(("where", "expect"), [
    ({"name": {"neq": "b"}}, ["a", "c", None]),
    ({"name": {"exists": False}}, [None]),
    ({"name": {"exists": True}}, ["a", "b", "c"]),
    ({"name": {"like": "%b%"}}, ["b"]),
    ({"name": {"nlike": "a%"}}, ["b", "c", None]),
    ({"name": None}, [None]),
    ({"tags": "x"}, ["a", "b"]),
    ({"tags": {"nin": ["x"]}}, ["c", None]),
    ({"tags": {"regexp": "/^Y$/i"}}, ["b"]),
    ({"n": {"between": [2, 3]}}, ["b", "c"]),
    ({"n": {"gt": "2"}}, []),
    ({"or": [{"n": 1}, {"and": [{"n": {"gte": 3}}, {"tags": {"inq": ["z"]}}]}]}, ["a"]),
])
def test_filter_semantics_on_plain_documents(where, expect):
    from jobarchive.emulator.filters import filter_docs

    docs = [{"id": "1", "creationDate": "2021-01-01T00:00:00.000Z", "name": "a", "tags": ["x"],
             "n": 1},
            {"id": "2", "creationDate": "2021-01-02T00:00:00.000Z", "name": "b",
             "tags": ["x", "y"], "n": 2},
            {"id": "3", "creationDate": "2021-01-03T00:00:00.000Z", "name": "c", "tags": [],
             "n": 3},
            {"id": "4", "creationDate": "2021-01-04T00:00:00.000Z", "tags": ["w"], "n": 4}]
    got = filter_docs(docs, {"order": "creationDate ASC", "where": where})
    assert [d.get("name") for d in got] == expect


def test_odd_requests_get_4xx_error_bodies_never_5xx():
    import random

    with Emulator(seed_jobs=30, seed=1) as emu:
        client = Client(emu)
        job_id = emu.job_docs()[0]["id"]
        paths = ["/Jobs", f"/Jobs/{job_id}", f"/Jobs/{job_id}/v/1", f"/Jobs/{job_id}/cancel",
                 f"/Jobs/{job_id}/jobDataUploaded", "/Jobs/status/v/1", "/devices/v/1",
                 "/devices/ibmq_athens/properties", "/devices/%2e%2e/properties",
                 f"/Jobs/{job_id}/resultDownloadUrl", "/Jobs/%2e%2e%2f/status/v/1"]
        bodies = [b"", b"null", b"[]", b"{}", b'"x"', b'{"name": null}', b'{"tags": null}',
                  b'{"backend": "x"}', b'{"backend": {"name": 5}}', b"\xff\xfe",
                  b'{"name": "' + b"a" * 5000 + b'"}',
                  b'{"backend": {"name": "ibmq_athens"}, "shareLevel": 3}']
        filters = ["", "null", '{"where": null}', '{"where": []}', '{"limit": "5"}',
                   '{"fields": {"id": 1}}', '{"order": 5}',
                   '{"where": {"creationDate": {"gt": null}}}',
                   '{"where": {"tags": {"inq": [[1]]}}}']
        rng = random.Random(0)
        for _ in range(300):
            method = rng.choice(["GET", "POST", "PUT", "PATCH"])
            r = client.s.request(method, client.p + rng.choice(paths), data=rng.choice(bodies),
                                 params={"filter": rng.choice(filters)}, timeout=30)
            assert r.status_code < 500, (method, r.url, r.text[:300])
            if r.status_code >= 400:
                assert r.json()["error"]["statusCode"] == r.status_code
        other = f"{emu.url}/Network/ibm-q-research/Groups/uni-lab/Projects/qc-course"
        assert client.s.get(f"{other}/Jobs/{job_id}/v/1").status_code == 404
        assert client.s.get(f"{other}/Jobs/status/v/1").json() == []
        assert client.s.get(f"{emu.url}/Network/nope/Groups/x/Projects/y/devices/v/1"
                            ).status_code == 404


def _ws_frames(emu: Emulator, path: str, token: str) -> tuple[list[dict], int | None]:
    """A raw websocket client: handshake, authenticate, read until the server closes."""
    import base64
    import os

    sock = socket.create_connection(("127.0.0.1", emu.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    f = sock.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 101")
    while f.readline() not in (b"\r\n", b""):
        pass
    payload = json.dumps({"type": "authentication", "data": token}).encode()
    mask = os.urandom(4)
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                 + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
    messages, code = [], None
    while True:
        b0, b1 = f.read(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(f.read(2), "big")
        data = f.read(n)
        if b0 & 0x0F == 0x8:
            code = int.from_bytes(data[:2], "big")
            break
        messages.append(json.loads(data))
    sock.close()
    return messages, code


def test_websocket_status_stream(frozen):
    emu, client = frozen
    token = client.s.headers["X-Access-Token"]
    job_id = _submit(client, json.dumps(_bell_qobj()).encode())
    emu.advance(1000)  # final before the stream opens: one status, then close 4002
    msgs, code = _ws_frames(emu, f"/ws/jobs/{job_id}/status/v/1", token)
    assert msgs[0] == {"type": "authenticated"}
    assert msgs[-1] == {"type": "job-status", "data": {"id": job_id, "status": "COMPLETED"}}
    assert code == 4002
    msgs, code = _ws_frames(emu, "/ws/jobs/ffffffffffffffffffffffff/status/v/1", token)
    assert code == 4003
    msgs, code = _ws_frames(emu, f"/ws/jobs/{job_id}/status/v/1", "bad-token")
    assert msgs[0]["type"] != "authenticated" and code == 4001
    # without the upgrade handshake it is a plain error, and the server keeps serving
    assert requests.get(f"{emu.base_url}/ws/jobs/{job_id}/status/v/1").status_code == 400
    assert client.get(f"/Jobs/{job_id}/status/v/1").json()["status"] == "COMPLETED"


def test_websocket_streams_changes_until_final():
    with Emulator(seed_jobs=0, time_scale=300.0) as emu:
        client = Client(emu)
        job_id = _submit(client, json.dumps(_bell_qobj()).encode(), backend="ibmq_athens")
        msgs, code = _ws_frames(emu, f"/ws/jobs/{job_id}/status/v/1",
                                client.s.headers["X-Access-Token"])
        statuses = [m["data"]["status"] for m in msgs[1:]]
        assert statuses[-1] == "COMPLETED" and code == 4002
        steps = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        lifecycle = ["CREATED", "VALIDATING", "VALIDATED", "QUEUED", "RUNNING", "COMPLETED"]
        # statuses shorter than a poll may be skipped, but the order is the lifecycle's
        assert len(steps) >= 2 and steps == sorted(steps, key=lifecycle.index)
        queued = [m["data"] for m in msgs[1:] if m["data"]["status"] == "QUEUED"]
        assert all(q["infoQueue"]["position"] >= 1 for q in queued)


def test_stop_hangs_up_on_keep_alive_clients():
    emu = Emulator(seed_jobs=2).start()
    client = Client(emu)
    assert client.get("/devices/v/1").status_code == 200  # the session keeps the connection
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        client.get("/devices/v/1")


def test_delete_job_and_drop_qobj_simulate_server_side_loss():
    with Emulator(seed_jobs=20, seed=3) as emu:
        client = Client(emu)
        done = [d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED"]
        emu.drop_qobj(done[0])
        assert emu.qobj_of(done[0]) is None and emu.result_of(done[0]) is not None
        r = client.get(f"/Jobs/{done[0]}/jobDownloadUrl")
        assert r.status_code == 404 and r.json()["error"]["code"] == 3253
        emu.delete_job(done[1])
        r = client.get(f"/Jobs/{done[1]}/v/1")
        assert r.status_code == 404 and r.json()["error"]["code"] == 3250
        assert done[1] not in {d["id"] for d in emu.job_docs()}
        with pytest.raises(KeyError):
            emu.delete_job("0123456789abcdef01234567")
