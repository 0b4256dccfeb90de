"""provider.jobs()/iter_pages against upstream's requests (reference §6)."""

from __future__ import annotations

from jobarchive.emulator.filters import filter_docs
from jobarchive.provider import iter_pages


class _PagedList:
    """The emulator's own filter evaluation, without the HTTP; records every request."""

    def __init__(self, docs):
        self.docs = docs
        self.calls = []

    def list_jobs(self, flt, full=False):
        self.calls.append(flt)
        return filter_docs(self.docs, flt)


def test_no_request_is_sent_once_the_limit_is_collected():
    # Upstream stops as soon as `limit` jobs are in hand. A first page after a skip that is one
    # tie group (a batch submitted in one millisecond) made iter_pages learn the tie group
    # with more requests, although the caller already had every job it asked for.
    docs = [{"id": f"job{i:02d}", "creationDate": "2021-01-01T00:00:00.000Z"} for i in range(30)]
    client = _PagedList(docs)
    got = [d["id"] for d in iter_pages(client, None, True, limit=5, skip=3)]
    assert got == [d["id"] for d in filter_docs(docs, {"order": "creationDate DESC"})][3:8]
    assert len(client.calls) == 1, client.calls


def test_a_db_filter_and_or_that_is_not_a_list_is_refused_clearly():
    # {"and": {...}} was turned into the list of its keys (["name"]) and sent: the server
    # answered 400 about a filter the user never wrote.
    import pytest

    from jobarchive.exceptions import IBMQBackendValueError
    from jobarchive.provider import build_where

    for key in ("and", "or"):
        with pytest.raises(IBMQBackendValueError, match=f"'{key}'"):
            build_where(job_tags=["a"], job_tags_operator="AND",
                        db_filter={key: {"name": "x"}})
    assert build_where(db_filter={"and": [{"name": "x"}]}) == {"and": [{"name": "x"}]}
