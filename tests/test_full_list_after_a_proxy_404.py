"""A proxy's 404 page on ``GET {P}/Jobs/v/1`` (a front end that briefly fails to route it) is
no answer from the server: it must not turn full job lists off for the client's whole life,
where every later sync would read each job alone (one request a job instead of one a page).
Only the server's own LoopBack 404 "There is no method to handle" says the route is missing.
Real emulator on 127.0.0.1."""

from __future__ import annotations

import jobarchive
from jobarchive.emulator import Emulator

PROXY_404 = {"rate": 1.0, "kinds": ["404"], "endpoints": ["jobs_list_v1"]}
PAGE = {"order": "creationDate ASC", "limit": 5}


def test_a_proxy_404_on_the_full_list_falls_back_once_and_full_lists_return():
    with Emulator(seed_jobs=5, seed=3) as emu:
        client = jobarchive.connect(emu.url, emu.token).api_client
        emu.set_faults(PROXY_404)
        listed = client.list_jobs(PAGE, full=True)
        assert [d["id"] for d in listed] == [d["id"] for d in emu.job_docs()]
        emu.set_faults(None)
        emu.reset_stats()
        again = client.list_jobs(PAGE, full=True)
        assert emu.stats().get("jobs_list_v1") == 1
        assert all("timePerStep" in d for d in again)


def test_the_servers_own_no_route_404_is_remembered():
    with Emulator(seed_jobs=5, seed=3, no_full_lists=True) as emu:
        client = jobarchive.connect(emu.url, emu.token).api_client
        assert len(client.list_jobs(PAGE, full=True)) == 5
        emu.reset_stats()
        assert len(client.list_jobs(PAGE, full=True)) == 5
        assert emu.stats().get("jobs_list_v1", 0) == 0
