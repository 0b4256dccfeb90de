"""A CI job following `jobarchive emulator --help` ('--token t') and syncing with that
token: error messages must stay readable.

A real listening socket on 127.0.0.1 that never answers; the CLI through CliRunner."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from jobarchive.cli import cli


def test_a_timeout_with_a_short_token_says_timed_out(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        result = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "sync", "--url", url,
                                          "--token", "t", "--timeout", "0.2",
                                          "--max-retries", "0"])
    assert result.exit_code == 1, result.output
    assert f"cannot reach {url} (timed out)" in result.stderr, result.stderr
