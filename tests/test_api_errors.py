"""Error shapes at the one translation boundary (api.py) that the emulator cannot produce:
a tiny HTTP server on 127.0.0.1 port 0 answers each recorded or documented shape over a real
socket (sleeps are recorded, never waited)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from local_http import Handler, serving

from jobarchive.api import ApiClient
from jobarchive.exceptions import ApiError, ApiIBMQProtocolError, RequestsApiError

TOKEN = "access-token-h4-secret"

# name -> (HTTP status, content type, body)
SHAPES: dict[str, tuple[int, str, str]] = {
    # LoopBack errors without a numeric code (realdata: codes are strings, or absent).
    "nocode": (404, "application/json", json.dumps({"error": {"message": "Job not found"}})),
    "nullmessage": (400, "application/json",
                    json.dumps({"error": {"message": None, "code": 3250}})),
    "realstring": (400, "application/json", json.dumps(
        {"error": {"status": 400, "message": "Generic error", "code": "GENERIC_ERROR"}})),
    # A gateway's HTML page in front of the API.
    "html502": (502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>"
                "<center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center>"
                "</body></html>"),
    "html403": (403, "text/html; charset=UTF-8", "<!DOCTYPE html><html><head><title>Access "
                "denied | Cloudflare</title><style>body{color:red}</style></head><body>"
                "<h1>Access denied</h1><p>You do not have access.</p></body></html>"),
    "badcharset": (503, "text/html; charset=x-no-such-codec", "<html><body>Down for "
                   "maintenance</body></html>"),
    # Object storage's XML error (an expired pre-signed URL).
    "s3xml": (403, "application/xml", '<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
              "AccessDenied</Code><Message>Request has expired</Message><Resource>/b/q.json"
              "</Resource></Error>"),
    # JSON nested deeper than Python's parser recurses (a broken or hostile server).
    "deep200": (200, "application/json", "[" * 100_000),
    "deep400": (400, "application/json", '{"error": ' + "[" * 100_000),
}


class _Shapes(Handler):
    def do_GET(self):  # noqa: N802 - stdlib name
        status, ctype, text = SHAPES[self.path.split("/Jobs/")[1].split("/")[0]]
        self.reply(status, text, ctype)


@pytest.fixture(scope="module")
def client() -> Iterator[ApiClient]:
    with serving(_Shapes) as server:
        api = ApiClient(f"http://127.0.0.1:{server.server_port}/api", TOKEN, max_retries=2)
        api.transport.sleep = lambda seconds: None
        yield api


def _error(client: ApiClient, shape: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        client.job_get(shape)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    return info.value


def test_an_error_body_without_a_code_does_not_say_error_code_none(client):
    err = _error(client, "nocode")
    assert isinstance(err, RequestsApiError) and err.status_code == 404
    assert "Job not found" in str(err)
    assert "Error code: None" not in str(err), str(err)


def test_an_error_body_with_a_null_message_does_not_say_none(client):
    err = _error(client, "nullmessage")
    assert err.error_code == 3250
    assert "None," not in str(err) and "Error code: 3250" in str(err), str(err)


def test_a_string_error_code_is_kept_in_the_message(client):
    err = _error(client, "realstring")
    assert str(err).endswith("Generic error, Error code: GENERIC_ERROR."), str(err)


def test_an_html_error_page_is_reduced_to_its_text_and_names_the_fix(client):
    err = _error(client, "html502")
    assert isinstance(err, RequestsApiError) and err.status_code == 502
    text = str(err)
    assert "<" not in text.split("for url:")[1], text
    assert "502 Bad Gateway" in text and "try again later" in text, text


def test_an_html_page_of_a_proxy_refusing_access_is_readable(client):
    err = _error(client, "html403")
    text = str(err)
    assert "<" not in text.split("for url:")[1] and "color:red" not in text, text
    assert "Access denied" in text, text


def test_an_xml_error_of_object_storage_is_reduced_to_its_text(client):
    text = str(_error(client, "s3xml"))
    assert "AccessDenied Request has expired" in text and "<" not in text.split("for url:")[1]
    assert "HTML" not in text, text


def test_an_error_page_in_an_unknown_charset_is_still_read(client):
    text = str(_error(client, "badcharset"))
    assert "Down for maintenance" in text and "try again later" in text, text


def test_json_nested_too_deep_is_a_protocol_error_not_a_recursion_error(client):
    # json.loads raises RecursionError (not a ValueError) on it: it escaped the boundary.
    err = _error(client, "deep200")
    assert isinstance(err, ApiIBMQProtocolError), repr(err)
    err = _error(client, "deep400")
    assert isinstance(err, RequestsApiError) and err.status_code == 400, repr(err)


@pytest.fixture()
def https_server(self_signed_cert):
    """An HTTPS server whose certificate nobody trusts (self-signed)."""
    with serving(_Shapes, tls=self_signed_cert) as server:
        yield server


def test_an_untrusted_certificate_is_not_retried_and_names_the_fix(https_server):
    # A certificate that fails verification fails the same way every time: five retries
    # (15 s of backoff) only delay the answer, which must say how to trust the server.
    api = ApiClient(f"https://127.0.0.1:{https_server.server_port}/api", TOKEN, max_retries=5)
    sleeps: list[float] = []
    api.transport.sleep = sleeps.append
    before = api.request_count
    with pytest.raises(RequestsApiError) as info:
        api.job_get("nocode")
    assert api.request_count - before == 1 and sleeps == []
    text = str(info.value)
    assert "verify" in text and "REQUESTS_CA_BUNDLE" in text, text
    assert TOKEN not in text


def test_a_retry_after_beyond_the_ceiling_is_not_retried_early():
    # "Retry-After: 600" asks the client to stay away ten minutes. Retrying at the 120 s
    # ceiling five times sends 5 requests the server said it would refuse (more 429s, and a
    # longer ban on some front ends); the caller gets the answer at once, with the wait.
    import jobarchive
    from jobarchive.emulator import Emulator

    with Emulator(seed_jobs=3, seed=1) as emu:
        provider = jobarchive.connect(emu.url, emu.token)
        client = provider.api_client
        sleeps: list[float] = []
        client.transport.sleep = sleeps.append
        job_id = emu.job_docs()[0]["id"]
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 600, "seed": 1,
                        "endpoints": ["job_get"]})
        before = client.request_count
        with pytest.raises(RequestsApiError) as info:
            client.job_get(job_id)
        assert info.value.status_code == 429
        assert client.request_count - before == 1 and sleeps == []
        assert "600 s" in str(info.value), str(info.value)
        # A Retry-After within the ceiling is still waited and retried.
        emu.set_faults({"rate": 1.0, "kinds": ["429"], "retry_after": 3, "seed": 1,
                        "endpoints": ["job_get"]})
        with pytest.raises(RequestsApiError):
            client.job_get(job_id)
        assert sleeps == [3.0] * 5
