"""TLS failures at the first sync said "cannot reach URL (no answer): is the server up and
the network there?", though the server had answered: an https:// URL for a plain-HTTP
server (the emulator prints http://...), or a certificate this machine does not trust (a
self-signed server, a proxy that inspects TLS). The message says what failed and the fix,
and the fix it names works."""

from __future__ import annotations

from click.testing import CliRunner
from local_http import serving
from test_connect_verify_and_proxies import _forwarder

from jobarchive.cli import cli
from jobarchive.emulator import Emulator


def _sync(tmp_path, url, token, env=None):
    return CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "sync", "--url", url,
                                    "--token", token, "--max-retries", "0", "--no-progress"],
                              env=env)


def _one_error_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), res.stderr
    assert "is the server up" not in lines[0], lines[0]
    return lines[0]


def test_https_to_a_plain_http_server_suggests_http(tmp_path):
    with Emulator(seed_jobs=2) as emu:
        url = emu.url.replace("http://", "https://", 1)
        line = _one_error_line(_sync(tmp_path, url, emu.token))
    assert "does not speak HTTPS" in line and "http://" in line, line


def test_an_untrusted_certificate_names_the_ca_bundle_variable_which_works(
        tmp_path, self_signed_cert, monkeypatch):
    cert, key = self_signed_cert
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with Emulator(seed_jobs=3, seed=1) as emu:
        with serving(_forwarder(emu.base_url, []), tls=(cert, key)) as front:
            url = f"https://127.0.0.1:{front.server_port}/api"
            line = _one_error_line(_sync(tmp_path, url, emu.token))
            assert "certificate" in line and "REQUESTS_CA_BUNDLE" in line, line
            again = _sync(tmp_path, url, emu.token, env={"REQUESTS_CA_BUNDLE": str(cert)})
            assert again.exit_code == 0, again.stderr
            assert "3 discovered" in again.stdout
