"""The emulator's websocket status stream (reference §3.5) keeps accounts apart, as its
HTTP routes do ("Accounts see only their own jobs, as on the real server")."""

from __future__ import annotations

import json

from qiskit import QuantumCircuit
from test_emulator import _ws_frames

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


def _access_token(provider) -> str:
    return provider.api_client._token.value


def test_another_accounts_job_is_not_found_on_the_stream():
    # Was: any valid access token streamed any job's status and queue position (close 4002).
    with Emulator(seed_jobs=0, seed=1, time_scale=1e-6) as emu:
        mine = jobarchive.connect(emu.url, emu.token)
        other = jobarchive.connect(emu.url, emu.add_account())
        qc = QuantumCircuit(1, 1)
        qc.measure(0, 0)
        job = mine.get_backend("ibmq_qasm_simulator").run(qobj_from_circuits(qc, shots=8))
        emu.advance(3600)
        path = f"/ws/jobs/{job.job_id()}/status/v/1"
        msgs, code = _ws_frames(emu, path, _access_token(other))
        assert code == 4003 and not [m for m in msgs if m.get("type") == "job-status"], msgs
        msgs, code = _ws_frames(emu, path, _access_token(mine))
        assert code == 4002 and json.dumps(msgs).count("COMPLETED") == 1
