"""The report's "Most used tags" table counts jobs, as its column says and as the index's
tag filter does, also for a job submitted with a tag twice (the server keeps tags as sent)."""

from __future__ import annotations

import re

from qiskit import QuantumCircuit

from jobarchive import connect
from jobarchive.emulator import Emulator
from jobarchive.qobj import qobj_from_circuits


def _tag_table(text: str) -> dict[str, int]:
    section = text.split("<h2>Most used tags</h2>", 1)[1].split("</table>", 1)[0]
    return {tag: int(jobs) for tag, jobs in
            re.findall(r"<th>([^<]*)</th>\s*<td>(\d+)</td>", section)}


def test_a_tag_sent_twice_is_one_job_of_it(arc, tmp_path):
    circuit = QuantumCircuit(1, 1)
    circuit.h(0)
    circuit.measure(0, 0)
    with Emulator(seed_jobs=0, time_scale=1000.0) as emu:
        provider = connect(emu.url, emu.token)
        backend = provider.get_backend("ibmq_qasm_simulator")
        qobj = qobj_from_circuits([circuit], shots=100)
        # A campaign tag added to a list that already held it: the server keeps both.
        backend.run(qobj, job_tags=["campaign", "campaign", "x"])
        backend.run(qobj, job_tags=["campaign"])
        arc.sync(provider, progress=False, follow=True, poll_interval=0.1)
    assert sorted(map(len, arc.query()["tags"])) == [1, 3]
    table = _tag_table(arc.report(tmp_path / "r.html").read_text())
    assert table == {"campaign": len(arc.query(job_tags=["campaign"])), "x": 1}
    assert table["campaign"] == 2  # not 3: two jobs carry it
