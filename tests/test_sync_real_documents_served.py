"""Sync against a server that answers with the real recorded documents (realdata: the 2021
job list and its job, result and qobj, the 2024 runtime job and result, the 2019 XACC job
with its inline qObject and qObjectResult). A local HTTP server plays the project's job
endpoints (filters evaluated by the emulator's reference LoopBack filter); the emulator
serves the login. Each job is archived as ``from_server`` reads its document, with its
payloads, and a job seen CREATED, then COMPLETED, moves with an event."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from urllib.parse import parse_qs, urlsplit

import pytest
from local_http import Handler, serving

import jobarchive
from jobarchive import Archive, IBMQJob
from jobarchive.emulator import Emulator
from jobarchive.emulator.filters import filter_docs

pytestmark = pytest.mark.terra046
NOT_FOUND = {"error": {"code": 3250, "message": "Job not found.", "name": "Error",
                       "statusCode": 404}}


class RecordedServer:
    """The project's job endpoints (``/P/...``) over recorded documents and payloads."""

    def __init__(self, docs, results, qobjs):
        self.docs = {d["id"]: d for d in docs}
        self.results, self.qobjs = dict(results), dict(qobjs)
        server = self

        class Recorded(Handler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - stdlib name
                self.reply(*server.answer(self.path))

            def do_POST(self):  # noqa: N802 - stdlib name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(*server.answer(self.path))

        self.handler = Recorded

    def answer(self, target):
        parts = urlsplit(target)
        if parts.path in ("/P/Jobs/status/v/1", "/P/Jobs/v/1"):
            flt = json.loads(parse_qs(parts.query).get("filter", ["{}"])[0])
            return 200, filter_docs(list(self.docs.values()), flt)
        job = re.fullmatch(r"/P/Jobs/([^/]+)/(v/1|resultDownloadUrl|jobDownloadUrl|resultDownloaded)",
                           parts.path)
        if job:
            job_id, what = job.groups()
            if job_id not in self.docs:
                return 404, NOT_FOUND
            if what == "v/1":
                return 200, self.docs[job_id]
            if what == "resultDownloaded":
                return 200, {"terminated": True}
            return 200, {"url": f"{self.base}/store/{what[:3]}/{job_id}"}
        stored = re.fullmatch(r"/store/(res|job)/([^/]+)", parts.path)
        if stored:
            kind, job_id = stored.groups()
            held = (self.results if kind == "res" else self.qobjs).get(job_id)
            if held is not None:
                return 200, held
            return 404, {"error": {"code": 3253, "message": "No such object.", "name": "Error",
                                   "statusCode": 404}}
        return 404, {"error": {"code": "NOT_FOUND", "message": f"no route {parts.path}",
                               "name": "Error", "statusCode": 404}}

    def __enter__(self):
        self._stack = ExitStack()
        self.base = f"http://127.0.0.1:{self._stack.enter_context(serving(self.handler)).server_port}"
        return self

    def __exit__(self, *exc):
        self._stack.close()


def _bodies(realdata, name):
    return [r["body"] for r in json.loads(
        (realdata / "ibmqclient_jl_records" / name).read_text())["responses"]]


@pytest.fixture
def recorded(realdata, real_corpus):
    listed = json.loads(_bodies(realdata, "jobs.json")[0])
    status21, _, result21, _ = _bodies(realdata, "result_2021.json")
    status24, _, result24, _ = _bodies(realdata, "result_2024.json")
    submit21 = json.loads((realdata / "ibmqclient_jl_records" / "submit_2021.json").read_text())
    xacc = next(e["document"] for e in real_corpus if e["source"].startswith("eclipse"))
    return {"listed": listed, "doc21": json.loads(status21), "result21": json.loads(result21),
            "doc24": json.loads(status24), "result24": json.loads(result24),
            "qobj21": json.loads(submit21["responses"][1]["request"]["body"]),
            "created21": json.loads(submit21["responses"][2]["body"])["job"], "xacc": xacc}


def _provider(emu, server):
    provider = jobarchive.connect(emu.url, emu.token)
    provider.api_client.project_url = server.base + "/P"
    return provider


def test_every_recorded_job_is_archived_as_its_document_reads(recorded, tmp_path):
    doc21, doc24, xacc = recorded["doc21"], recorded["doc24"], recorded["xacc"]
    docs = {d["id"]: d for d in [*recorded["listed"], doc21, doc24, xacc]}
    payloads = {doc21["id"]: {"result": recorded["result21"], "qobj": recorded["qobj21"]},
                doc24["id"]: {"result": recorded["result24"]}}
    with Emulator() as emu, RecordedServer(
            docs.values(), {doc21["id"]: recorded["result21"], doc24["id"]: recorded["result24"]},
            {doc21["id"]: recorded["qobj21"]}) as server, Archive(tmp_path / "a") as arc:
        report = arc.sync(_provider(emu, server), progress=False)
        assert report.discovered == len(docs) == 13 and report.results_fetched == 2
        # The other 2021 jobs' results were never recorded: reported, not archived.
        assert set(report.failed) == {d["id"] for d in recorded["listed"]
                                      if d["status"] == "COMPLETED" and d["id"] != doc21["id"]}
        for job_id, doc in docs.items():
            want = {**IBMQJob.from_server(doc).to_dict(), **payloads.get(job_id, {})}
            assert arc.get(job_id).to_dict() == want, job_id
        assert arc.get(doc21["id"]).result().get_counts() == [{"0": 506, "11": 494},
                                                             {"1": 524, "10": 476}]
        assert arc.get(doc24["id"]).result().get_counts(1) == {"10": 459, "1": 541}
        assert arc.get(xacc["id"]).result().get_counts() == {"00": 342, "01": 187,
                                                            "10": 314, "11": 181}
        counts = arc.counts([doc21["id"], doc24["id"], xacc["id"]])
        assert counts.groupby("job_id")["count"].sum().to_dict() == {
            doc21["id"]: 2000, doc24["id"]: 2000, xacc["id"]: 1024}
        assert arc.audit()["ok"].all()


def test_a_recorded_job_seen_created_then_completed_moves_with_its_payloads(recorded, tmp_path):
    created, doc21 = recorded["created21"], recorded["doc21"]
    assert created["id"] == doc21["id"] and created["status"] == "CREATED"
    with Emulator() as emu, RecordedServer([created], {}, {doc21["id"]: recorded["qobj21"]}) \
            as server, Archive(tmp_path / "a") as arc:
        provider = _provider(emu, server)
        first = arc.sync(provider, progress=False)
        assert first.discovered == 1 and first.pending == 1 and not first.failed
        server.docs[doc21["id"]] = doc21  # completed on the server
        server.results[doc21["id"]] = recorded["result21"]
        second = arc.sync(provider, progress=False)
        assert second.changed == 1 and second.results_fetched == 1 and second.pending == 0
        record = arc.get(doc21["id"]).to_dict()
        assert record["status"] == "COMPLETED" and record["result"] == recorded["result21"]
        assert record["qobj"] == recorded["qobj21"]
        assert record["summary_data"] == created["summaryData"]  # kept from the first document
        events = arc.history(doc21["id"])
        assert events[["kind", "old", "new"]].values.tolist() == [["status", "CREATED", "COMPLETED"]]
