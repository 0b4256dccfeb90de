"""counts() of a v1 job (2018-2019 QX API): its counts are in the record's qasms (the audit
re-runs and judges them, show --json prints them), and a historical analysis of an account
that goes back to 2018 reads them through counts() like any other job's. Real documents."""

from __future__ import annotations

from jobarchive import IBMQJob

REAL_V1 = ("5b633f94f9b81b00364af0dd", "5b6341cb3a8adf003c0e0edb")


def test_counts_of_v1_jobs_are_their_qasms_counts(arc, real_corpus):
    docs = {}
    for entry in real_corpus:
        doc = entry["document"]
        if doc.get("id") in REAL_V1 and doc.get("status") == "COMPLETED":
            docs.setdefault(doc["id"], doc)
    assert sorted(docs) == sorted(REAL_V1)
    arc.add_many([IBMQJob.from_server(doc) for doc in docs.values()])
    counts = arc.counts(arc.query())
    for job_id, doc in docs.items():
        want = sorted((i, bits, n) for i, qasm in enumerate(doc["qasms"])
                      for bits, n in qasm["result"]["data"]["counts"].items())
        assert sum(n for _, _, n in want) == 2000 * len(doc["qasms"])
        part = counts[counts["job_id"] == job_id]
        assert sorted(zip(part["experiment"], part["bitstring"], part["count"], strict=True)) == want
