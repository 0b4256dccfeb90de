"""audit(reproduce=True) of v1 jobs (2018-2019 QX API): their circuits (OpenQASM) and
counts are in the record's ``qasms``, not in a qobj and a result. Real documents."""

from __future__ import annotations

import copy

from jobarchive import IBMQJob

REAL_V1 = ("5b633f94f9b81b00364af0dd", "5b6341cb3a8adf003c0e0edb")


def _docs(real_corpus) -> list[dict]:
    out = {}
    for entry in real_corpus:
        doc = entry["document"]
        if doc.get("id") in REAL_V1 and doc.get("status") == "COMPLETED":
            out.setdefault(doc["id"], doc)
    assert sorted(out) == sorted(REAL_V1)
    return list(out.values())


def test_v1_jobs_are_reproduced_from_their_qasm_and_forged_counts_flagged(arc, real_corpus):
    """They were never re-run ('DONE without result and qobj ... v1'): a forged count of a
    2018 job passed every audit. The real GHZ jobs reproduce; a copy whose counts say
    '000' every shot, and one whose total is not its shots, are flagged."""
    docs = _docs(real_corpus)
    forged = copy.deepcopy(docs[0])
    forged["id"] = "5b633f94f9b81b00364aforg"
    forged["qasms"][0]["result"]["data"]["counts"] = {"000": 2000}
    short = copy.deepcopy(docs[0])
    short["id"] = "5b633f94f9b81b00364ashor"
    short["qasms"][0]["result"]["data"]["counts"] = {"000": 900, "111": 1000}
    arc.add_many([IBMQJob.from_server(d) for d in (*docs, forged, short)])
    frame = arc.audit(reproduce=True, progress=False).set_index("job_id")
    for job_id in REAL_V1:
        row = frame.loc[job_id]
        assert row["ok"] and row["fidelity"] > 0.95, (row["problem"], row["notes"])
    assert frame.attrs["summary"]["reproduced"] == 4 - 1  # the short one is judged unrun
    row = frame.loc["5b633f94f9b81b00364aforg"]
    assert row["flagged"] and not row["ok"] and "reproduced counts differ" in row["problem"]
    row = frame.loc["5b633f94f9b81b00364ashor"]
    assert row["flagged"] and "counts 1900 shots, but it ran 2000" in row["problem"]
