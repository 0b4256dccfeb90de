"""Paging through a batch of jobs created in one millisecond (more than a page boundary's
``id nin`` list holds) while someone deletes jobs of it: every job still there is listed
once, and older jobs are not lost behind a false "server error". A server that cannot list
by an exact creation date is still refused (emulator over real sockets; a stdlib proxy
plays that server)."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

import jobarchive
from jobarchive.exceptions import IBMQBackendApiError

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator
OLDER, TIED, PAGE = 20, 150, 25
SEEN_BEFORE_DELETING = 125  # past the provider's MAX_NIN_IDS (100): paged by id from here


@pytest.mark.parametrize("delete_all", [False, True])
def test_a_tied_batch_deleted_while_paging_loses_no_other_job(delete_all):
    with Emulator(seed_jobs=OLDER, seed=3, seed_tied=TIED) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        docs = emu.job_docs()
        tied_date = docs[-1]["creationDate"]
        tied = [d["id"] for d in docs if d["creationDate"] == tied_date]
        assert len(tied) == TIED
        listed: list[str] = []
        for doc in provider.iter_job_docs(descending=True, page_size=PAGE):
            listed.append(doc["id"])
            if len(listed) == SEEN_BEFORE_DELETING:  # a colleague cleans up the batch
                for job_id in tied if delete_all else listed:
                    emu.delete_job(job_id)
        assert len(listed) == len(set(listed))
        left = {d["id"] for d in emu.job_docs()}
        assert left <= set(listed)  # every job still on the server was listed
        assert {d["id"] for d in docs if d["creationDate"] != tied_date} <= set(listed)


class _NoExactDates(BaseHTTPRequestHandler):
    """Forwards to the emulator, but answers a job list filtered on one exact creation date
    with nothing, as a server comparing its dates with a string would."""

    upstream: str = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - stdlib name
        query = parse_qs(urlsplit(self.path).query).get("filter", ["{}"])[0]
        if isinstance(json.loads(query).get("where", {}).get("creationDate"), str):
            data, status, ctype = b"[]", 200, "application/json"
        else:
            up = urlsplit(self.upstream)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            try:
                conn.request("GET", self.path, headers={
                    k: v for k, v in self.headers.items() if k.lower() != "host"})
                answer = conn.getresponse()
                data, status = answer.read(), answer.status
                ctype = answer.getheader("Content-Type") or "application/json"
            finally:
                conn.close()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        return


def test_a_server_that_cannot_list_one_exact_date_is_still_refused():
    with Emulator(seed_jobs=OLDER, seed=3, seed_tied=TIED) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        handler = type("Handler", (_NoExactDates,), {"upstream": emu.base_url})
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            client = provider.api_client
            client.project_url = client.project_url.replace(
                emu.base_url, f"http://127.0.0.1:{proxy.server_port}")
            with pytest.raises(IBMQBackendApiError, match="lists none of the jobs created"):
                list(provider.iter_job_docs(descending=True, page_size=PAGE))
        finally:
            proxy.shutdown()
            proxy.server_close()
