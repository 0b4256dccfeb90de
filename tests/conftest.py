"""Shared fixtures and hypothesis profiles (keep this file small).

Profiles: ``ci`` (default, modest example counts for a 2-core machine) and ``long``
(``HYPOTHESIS_PROFILE=long``) for a deeper local run. ``--runslow`` runs the tests marked
``slow`` (long crash campaigns and soaks). ``campaign_stats`` tallies kill points and fuzz
cases; the tally is printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from jobarchive import Archive

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A shell that runs the suite in the background (`cmd &`) starts it with SIGINT ignored, and
# children inherit that: the tests that press Ctrl-C on `jobarchive emulator` would then
# wait forever. A handler is reset to the default on exec, so children get Ctrl-C back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REALDATA = Path(os.environ.get("JOBARCHIVE_REALDATA", Path(__file__).resolve().parents[2]
                               / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The recorded server data (``../shared/realdata``); skips if this checkout lacks it."""
    if not (REALDATA / "job_documents_all.json").exists():
        pytest.skip(f"real recorded data not found at {REALDATA} (set JOBARCHIVE_REALDATA)")
    return REALDATA


@pytest.fixture(scope="session")
def real_corpus(realdata: Path) -> list[dict]:
    """The 430 entries of job_documents_all.json (``{source, provenance, document}``)."""
    return json.loads((realdata / "job_documents_all.json").read_text())


@pytest.fixture
def arc(tmp_path: Path):
    """A fresh archive in a temp directory, closed afterwards."""
    with Archive(tmp_path / "test.jobarchive") as archive:
        yield archive


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the long crash/soak campaigns (tests marked slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="long campaign: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_STATS = pytest.StashKey[dict]()


@pytest.fixture
def campaign_stats(request: pytest.FixtureRequest) -> dict:
    """A session-wide tally (kill points, fuzz cases, ...) printed after the run."""
    return request.config.stash.setdefault(_STATS, {})


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    stats = config.stash.get(_STATS, None)
    if stats:
        terminalreporter.write_sep("-", "campaigns")
        for what, n in sorted(stats.items()):
            terminalreporter.write_line(f"{what}: {n}")
        kills = sum(n for what, n in stats.items() if what.startswith("SIGKILL points"))
        if kills:
            terminalreporter.write_line(f"SIGKILL points in total: {kills}")


@pytest.fixture
def local_tz():
    """A non-UTC local zone (Asia/Kolkata, +05:30, no DST), so that conversions to local
    time are observable; yields the offset."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield timedelta(hours=5, minutes=30)
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def count_tag_updates():
    """``count(emu)`` makes the emulator count, per job, the tag changes it really applies
    (a request a killed client sent only half of changes nothing) and returns the counts."""
    def count(emu) -> dict[str, int]:
        applied: dict[str, int] = {}
        real_update = emu._state.update

        def counting_update(job, name=..., tags=...):
            if tags is not ...:
                applied[job.id] = applied.get(job.id, 0) + 1
            return real_update(job, name=name, tags=tags)

        emu._state.update = counting_update
        return applied
    return count


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A new, empty $HOME (no ~/.qiskit/qiskitrc) and no JOBARCHIVE_*/QE_* credentials,
    URL or archive path from the environment: what a CLI test gives is all there is."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("JOBARCHIVE_TOKEN", "QE_TOKEN", "JOBARCHIVE_URL", "QE_URL", "JOBARCHIVE_PATH"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def self_signed_cert(tmp_path):
    """``(cert, key)``: a self-signed certificate for 127.0.0.1 made with openssl (skips
    where openssl is missing), for HTTPS servers in front of the emulator."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def index_reads(monkeypatch):
    """``index_reads(arc)`` -> a list that gets the row count of each read of ``arc``'s
    index through ``select`` (all at once) or ``iter_select`` (each batch)."""
    def watch(arc) -> list[int]:
        held: list[int] = []
        select, iter_select = arc.index.select, arc.index.iter_select

        def counted_select(*args, **kwargs):
            rows = select(*args, **kwargs)
            held.append(len(rows))
            return rows

        def counted_iter_select(*args, **kwargs):
            for batch in iter_select(*args, **kwargs):
                held.append(len(batch))
                yield batch

        monkeypatch.setattr(arc.index, "select", counted_select)
        monkeypatch.setattr(arc.index, "iter_select", counted_iter_select)
        return held
    return watch


@pytest.fixture
def interrupt_after():
    """``interrupt_after(proc, emu, **served)`` -> (the emulator's stats when sent, (stdout,
    stderr)): Ctrl-C (SIGINT) to ``proc`` once the emulator has served at least ``served[name]``
    requests of each endpoint (or ``proc`` has ended), then its output (120 s: a guard only)."""
    def interrupt(proc, emu, **served: int):
        while proc.poll() is None and any(emu.stats().get(name, 0) < n for name, n in served.items()):
            time.sleep(0.005)
        stats = emu.stats()
        proc.send_signal(signal.SIGINT)
        return stats, proc.communicate(timeout=120)
    return interrupt
