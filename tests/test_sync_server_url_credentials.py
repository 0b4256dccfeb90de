"""An auth URL may carry a password (``https://user:secret@gateway/api``, a gateway's basic
auth). Sync remembers where the archive was synced from, in the archive itself, which
colleagues get as a copy or a backup: the password must not be in it."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit, urlunsplit

import pytest

import jobarchive
from jobarchive import Archive
from jobarchive.sync import last_server

emulator = pytest.importorskip("jobarchive.emulator")


def test_the_remembered_server_url_keeps_no_password(tmp_path):
    with emulator.Emulator(seed_jobs=2, seed=1) as emu:
        parts = urlsplit(emu.url)
        url = urlunsplit(parts._replace(netloc=f"alice:s3cr3t-pw@{parts.netloc}"))
        with Archive(tmp_path / "a") as arc:
            arc.sync(jobarchive.connect(url, emu.token), progress=False)
            assert len(arc) == 2
            assert last_server(arc)["url"] == urlunsplit(parts._replace(netloc=f"alice@{parts.netloc}"))
    for name in ("index.db", "index.db-wal"):
        path = tmp_path / "a" / name
        if path.exists():
            assert b"s3cr3t-pw" not in path.read_bytes(), name
    with sqlite3.connect(tmp_path / "a" / "index.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "s3cr3t-pw" not in dump


def test_a_failed_login_names_the_server_without_its_password():
    with emulator.Emulator(seed_jobs=1, seed=1) as emu:
        parts = urlsplit(emu.url)
        token = emu.token
    url = urlunsplit(parts._replace(netloc=f"alice:s3cr3t-pw@{parts.netloc}"))  # stopped: refused
    with pytest.raises(jobarchive.exceptions.IBMQAccountCredentialsInvalidUrl) as err:
        jobarchive.connect(url, token, max_retries=0)
    assert str(parts.port) in str(err.value) and "s3cr3t-pw" not in str(err.value), str(err.value)
