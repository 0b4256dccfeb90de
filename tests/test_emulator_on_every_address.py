"""``jobarchive emulator --host 0.0.0.0`` serves other machines, but its login answer
(users/me ``urls.http``) and its object-storage URLs named ``127.0.0.1``: a colleague's
client then called its own machine, and handed its access token to whatever listened on
that port there. Bound to every address, the emulator answers with the host the client
reached it by. 127.0.0.2 (loopback, but not the address the emulator names) stands in for
the other machine. Real emulator, real sockets."""

from __future__ import annotations

import socket

import pytest

import jobarchive
from jobarchive.emulator import Emulator


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_a_client_on_another_address_is_sent_back_to_that_address():
    with Emulator(seed_jobs=4, seed=2, host="0.0.0.0") as emu:
        if not _reachable("127.0.0.2", emu.port):
            pytest.skip("127.0.0.2 does not reach this machine here")
        other = f"http://127.0.0.2:{emu.port}"
        client = jobarchive.connect(f"{other}/api", emu.token).api_client
        assert client.http_url == f"{other}/api"
        job_id = next(d["id"] for d in emu.job_docs() if d["status"] == "COMPLETED")
        assert client.job_result_url(job_id).startswith(f"{other}/storage/result/")
        assert client.job_result(job_id) == emu.result_of(job_id)


def test_bound_to_one_address_the_urls_name_it_whatever_the_host_header():
    with Emulator(seed_jobs=1, seed=2) as emu:
        client = jobarchive.connect(f"http://localhost:{emu.port}/api", emu.token).api_client
        assert client.http_url == emu.url
