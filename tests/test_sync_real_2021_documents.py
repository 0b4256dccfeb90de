"""Real 2021 job documents (realdata, IBMQClient.jl's recording of the legacy server) carry
no ``tags``, ``name`` or ``shareLevel``: the archive must read such a job the same way
whether it came from ``add(IBMQJob.from_server(doc))`` or from a sync's refresh."""

from __future__ import annotations

from jobarchive import IBMQJob


def _docs_2021(real_corpus):
    docs = [e["document"] for e in real_corpus
            if e["provenance"]["path"] == "test/records/jobs.json"]
    assert docs and all("shareLevel" not in d and "tags" not in d for d in docs)
    return docs


def test_a_2021_document_gets_no_tags_both_ways(real_corpus):
    for doc in _docs_2021(real_corpus):
        built = IBMQJob.from_server(doc)
        refreshed = IBMQJob.from_server(doc)
        refreshed.refresh_from(doc)
        assert built.to_dict()["tags"] == refreshed.to_dict()["tags"] == []


def test_a_2021_document_gets_one_share_level_both_ways(real_corpus):
    for doc in _docs_2021(real_corpus):
        built = IBMQJob.from_server(doc)
        refreshed = IBMQJob.from_server(doc)
        refreshed.refresh_from(doc)
        assert built.to_dict()["share_level"] == refreshed.to_dict()["share_level"]
