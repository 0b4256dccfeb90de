"""A pre-signed URL the client cannot use (relative, or of another scheme: a misconfigured
server) was quoted whole in the error, signature included, and sync's failure list, the
CLI and logs carried it on. Its query is cut, as from every other message. A stdlib server
on 127.0.0.1 port 0, real sockets."""

from __future__ import annotations

import pytest
from local_http import Handler, serving

from jobarchive.api import ApiClient
from jobarchive.exceptions import ApiIBMQProtocolError

SIGNATURE = "X-Amz-Signature=0123456789abcdef0123456789abcdef"
URLS = {"relative": f"/storage/result/x?{SIGNATURE}",
        "s3": f"s3://bucket/result-x.json?X-Amz-Credential=c&{SIGNATURE}"}


@pytest.mark.parametrize("kind", sorted(URLS))
def test_an_unusable_result_url_is_named_without_its_signature(kind):
    class Api(Handler):
        def do_GET(self):  # noqa: N802 - stdlib name
            self.reply(200, {"url": URLS[kind]})

    with serving(Api) as server:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}/api", "access-token-u")
        with pytest.raises(ApiIBMQProtocolError, match="invalid object storage URL") as info:
            client.job_result("x")
    assert "Signature" not in str(info.value) and "0123456789abcdef" not in str(info.value)
    assert URLS[kind].split("?")[0] in str(info.value)
