"""The emulator's LoopBack `regexp` follows JavaScript's RegExp (the real server's), not
Python's re: what the real server refuses or matches differently must not work here."""

from __future__ import annotations

import pytest

import jobarchive
from jobarchive.emulator import Emulator
from jobarchive.emulator.filters import FilterError, filter_docs
from jobarchive.exceptions import IBMQBackendApiError

DOCS = [{"id": f"j{i}", "creationDate": f"2021-01-0{i + 1}T00:00:00.000Z", "name": name}
        for i, name in enumerate(["bell", "Abell", "bell\n", "run-\u0663", "hello"])]


def _names(pattern: str) -> list[str]:
    got = filter_docs(DOCS, {"order": "creationDate ASC", "where": {"name": {"regexp": pattern}}})
    return [d["name"] for d in got]


@pytest.mark.parametrize("pattern", [
    "(?i)BELL",          # Python's inline flags: a JS SyntaxError (Invalid group)
    "(?P<x>bell)",       # Python's named group syntax
    "(?#note)bell",      # Python's comment group
    "(?>bell)",          # Python 3.11's atomic group
    "bel++",             # Python 3.11's possessive quantifier: JS "Nothing to repeat"
])
def test_python_only_regexp_syntax_is_refused_as_the_real_server_does(pattern):
    with pytest.raises(FilterError):
        _names(pattern)


def test_regexp_matches_with_javascript_semantics():
    assert _names("bell$") == ["bell", "Abell"]         # JS `$`: the end, not before a \n
    assert _names("/bell$/m") == ["bell", "Abell", "bell\n"]
    assert _names("\\Abell") == ["Abell"]                # JS: `\A` is a literal A
    assert _names("-\\d") == []                           # JS `\d` is [0-9] only
    assert _names("(?<l>l)\\k<l>") == ["bell", "Abell", "bell\n", "hello"]  # JS named groups
    assert _names("[]") == [] and len(_names("^[^]")) == 5  # JS empty and any-char classes
    assert _names("/^BELL/i") == ["bell", "bell\n"]


def test_the_server_answers_400_to_a_python_only_regexp():
    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        with pytest.raises(IBMQBackendApiError, match="400"):
            provider.jobs(job_name="(?i)bell")
        assert provider.jobs(job_name="/x^/i") == []


def test_results_can_carry_the_naive_dates_of_the_2021_object_storage(monkeypatch, tmp_path):
    # realdata results_all.json: object storage served "date": "2021-05-04T11:35:02.660124"
    # (no zone, microseconds); the emulator served only "...Z" dates, so the client's reading
    # of a naive date as UTC was never exercised over the wire.
    import time
    from datetime import UTC, datetime

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with Emulator(seed_jobs=12, seed=5, naive_result_dates=True) as emu:
            doc = next(d for d in emu.job_docs() if d["status"] == "COMPLETED")
            served = emu.result_of(doc["id"])
            assert served["date"][-1].isdigit() and len(served["date"].rsplit(".", 1)[1]) == 6
            provider = jobarchive.connect(emu.url, emu.token)
            result = provider.retrieve_job(doc["id"]).result()
            assert result.date == datetime.fromisoformat(served["date"]).replace(tzinfo=UTC)
            assert result.date.utcoffset() != UTC.utcoffset(None)  # shown in local time
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
