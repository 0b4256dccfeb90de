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
