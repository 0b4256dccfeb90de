"""A job re-read by id (``GET J/v/1``) whose answer is a lean document (no ``timePerStep``,
as the older server's job documents in realdata are, and as a front end's cached or trimmed
answer may be) says nothing about the job's steps, name or tags: the sync keeps what the
archive holds for them instead of erasing them."""

from __future__ import annotations

import json
import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import local_http
import pytest

import jobarchive
from jobarchive import Archive

emulator = pytest.importorskip("jobarchive.emulator")
Emulator = emulator.Emulator

_JOB_GET = re.compile(r"/Jobs/(?P<id>[^/]+)(?:/v/1)?$")
LEAN_KEYS = ("timePerStep", "name", "tags")


class LeanJobProxy:
    """Forwards to the emulator; ``GET J/v/1`` of the jobs in ``lean`` answers without
    ``LEAN_KEYS``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.lean: set[str] = set()
        self.served_lean = 0
        proxy = self

        class Handler(local_http.Handler):
            def _forward(self) -> None:
                status, data = self.forward(proxy.upstream)
                data = data.replace(proxy.upstream_base.encode(), proxy.base.encode())
                match = _JOB_GET.search(urlsplit(self.path).path)
                if status == 200 and self.command == "GET" and match \
                        and match["id"] in proxy.lean:
                    doc = json.loads(data)
                    for key in LEAN_KEYS:
                        doc.pop(key, None)
                    data = json.dumps(doc).encode()
                    proxy.served_lean += 1
                self.reply(status, data)

            do_GET = do_POST = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.upstream_base = f"{self.upstream.scheme}://{self.upstream.netloc}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return self.base + self.upstream.path

    def __enter__(self) -> LeanJobProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_lean_answer_keeps_the_archived_steps_name_and_tags(tmp_path):
    # lean_full_lists: the id listing carries no full documents, so each running job is
    # read alone (GET J/v/1), and the proxy answers that read lean.
    with Emulator(seed_jobs=2, seed=3, seed_active=3, time_scale=1e-6,
                  lean_full_lists=True) as emu, LeanJobProxy(emu.url) as proxy, \
            Archive(tmp_path / "a") as arc:
        provider = jobarchive.connect(proxy.url, emu.token)
        arc.sync(provider, progress=False)
        jobs = arc.query()
        running = list(jobs.loc[~jobs["status"].isin(["DONE", "ERROR", "CANCELLED"]), "job_id"])
        assert running
        for job_id in running:
            emu.update_job(job_id, name=f"run-{job_id[-4:]}", tags=["kept"])
        arc.sync(provider, progress=False)  # full answers: name and tags taken
        before = {j: arc.record(j, payloads=False) for j in running}
        assert all(r["time_per_step"] and r["tags"] == ["kept"] for r in before.values())
        events = {j: len(arc.history(j)) for j in running}
        proxy.lean.update(running)
        report = arc.sync(provider, progress=False)
        assert proxy.served_lean >= len(running)
        assert not report.failed
        for job_id in running:
            # The emulator's clock stands still: nothing about the job changed.
            assert arc.record(job_id, payloads=False) == before[job_id], job_id
            assert len(arc.history(job_id)) == events[job_id], job_id
