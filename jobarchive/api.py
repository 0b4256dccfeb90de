"""The HTTP client of the legacy IBM Quantum API: the only module that imports requests.

Everything that can go wrong on the wire (connection trouble, HTTP errors, bodies that are
not JSON) leaves this module as an ``ApiError`` subclass, built in one place
(``_Transport.request``); callers never see a requests exception. Retries (exponential
backoff with jitter, ``Retry-After`` honoured) live here too, so a shared ``ApiClient``
can be used from a worker pool: requests' Session and urllib3's pool are thread-safe for
this use, and the only mutable state of our own, ``request_count``, sits behind a lock.

Secrets (the user's API token and the access token the login hands out) are held in a
``_Secret`` whose repr is ``'...'`` and scrubbed from every message and log line.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .exceptions import (
    JOB_NOT_FOUND_CODE,
    ApiError,
    ApiIBMQProtocolError,
    AuthenticationLicenseError,
    RequestsApiError,
)

logger = logging.getLogger(__name__)

# Status codes worth retrying (reference §3.0), POST included; 429 is handled with Retry-After.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 522, 524})
# Of those, the answers that say the request was not carried out: the only ones a request that
# must not run twice (job creation) is retried on. A 502/504/520/524 comes from a gateway that
# reached the server, which may have created the job (and a 500 may come after it did).
NOT_TAKEN_STATUSES = frozenset({429, 503, 522})
MAY_HAVE_TAKEN_EFFECT = ("The request may have taken effect nonetheless (the job may exist): "
                         "look at provider.jobs() before submitting again.")
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 120.0)
OBJECT_STORAGE_TIMEOUT: tuple[float, float] = (5.0, 600.0)
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_FACTOR = 0.5
CONNECT_RETRIES = 3  # of the retries, at most this many for connections that fail to open
MAX_BACKOFF_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 120.0
# The whole retry ladder of a best-effort result acknowledgement: sync sends them on its
# worker pool, where one sitting out "retry in 30 s" five times kept fetches waiting.
ACKNOWLEDGE_SECONDS = 10.0
SCRUBBED = "..."
# Secrets shorter than this are not scrubbed: a one-letter test token ('--token t') turned
# every 't' of a message into '...', and protects nothing a real token would.
MIN_SECRET = 6
RELOGIN_MIN_AGE_SECONDS = 60.0  # a 401 on a younger access token is not its expiry
# An answer is held whole before it is decoded: past this size (a broken or hostile server,
# a body that never ends) it is not read on. Real results are far smaller (memory=True
# results of 75 experiments x 8192 shots are a few MB); ``_Transport.max_answer_bytes``.
MAX_ANSWER_BYTES = 1 << 30
# Past its read timeout an answer must keep arriving at least this fast on average:
# requests' read timeout bounds each wait on the socket, which a server sending a byte at a
# time never reaches, so such an answer would never end.
MIN_ANSWER_RATE = 10_000  # bytes per second
ANSWER_CHUNK = 1 << 16


def client_application_header() -> str:
    """``X-Qx-Client-Application``: ``jobarchive/<version>`` (+ ``/<custom>`` from the env).

    The server turns it into the job's ``clientInfo`` (``{"name": "jobarchive",
    "version": ...}``); ``QE_CUSTOM_CLIENT_APP_HEADER`` appends a suffix as upstream does.
    """
    from . import __version__

    value = f"jobarchive/{__version__}"
    custom = os.environ.get("QE_CUSTOM_CLIENT_APP_HEADER")
    if custom:
        # Percent-encoded beyond printable ASCII: http.client refuses a header it cannot
        # encode as latin-1 (a UnicodeEncodeError on every request) and one with a newline.
        value += "/" + quote(custom, safe=_PRINTABLE_ASCII)
    return value


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


# Clients and transports alive in this process: a forked child resets them (see
# _Transport._after_fork), so an ApiClient or provider carried across os.fork() (multiprocessing
# on Linux) works in parent and children at once.
_after_fork_reset: weakref.WeakSet[Any] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for obj in list(_after_fork_reset):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class RequestDeadlineError(RequestsApiError, TimeoutError):
    """A request cut short, or not retried, because the caller's deadline passed
    (``ApiClient.deadline``). It is a ``TimeoutError`` too, so callers that must not import
    this module can tell it from other API errors."""


class RequestCancelledError(RequestsApiError):
    """A request not sent, or not retried, because the caller gave up (``Ctrl-C``): see
    ``ApiClient.cancel_on``."""


class AnswerTooLargeError(ApiIBMQProtocolError):
    """An answer larger than ``_Transport.max_answer_bytes``: not read (nor retried)."""


class QobjEncodingError(ValueError):
    """A qobj holding a value JSON cannot carry (raised before any request is sent)."""


def _qobj_default(value: Any) -> Any:
    """JSON for what ``qobj.to_dict()`` leaves in a qobj, as upstream's encoder sends it:
    complex as ``[real, imag]``, numpy arrays as lists, numpy scalars as numbers, dates as ISO
    strings, objects with ``to_dict()`` as that dict."""
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, datetime):
        return value.isoformat()
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()  # ndarray -> nested lists, numpy scalar -> int/float/complex
    if callable(getattr(value, "to_dict", None)):
        return value.to_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_qobj(qobj: Any) -> bytes:
    """The qobj upload body (reference §3.2); ``QobjEncodingError`` for a value JSON cannot
    carry."""
    try:
        return json.dumps(qobj, default=_qobj_default).encode()
    except (TypeError, ValueError, RecursionError) as err:
        raise QobjEncodingError(f"The qobj cannot be sent as JSON: {err}") from None


class _Secret:
    """A credential: ``str()`` and ``repr()`` never show it; ``.value`` does."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return SCRUBBED

    __str__ = __repr__


class _Masked(dict):
    """A dict holding a credential (request headers, the login body): its repr, which verbose
    tracebacks print for every local variable, shows only the keys."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: {SCRUBBED}" for key in self) + "}"


class _Session(requests.Session):
    """A Session that drops the access token, as requests drops ``Authorization``, when a
    redirect leaves the host it was sent to (it travels in ``X-Access-Token``, which
    requests would otherwise carry along)."""

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            prepared_request.headers.pop("X-Access-Token", None)


class _Transport:
    """A requests Session with timeouts, retries and the one error-translation boundary."""

    def __init__(
        self,
        timeout: float | tuple[float | None, float | None] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        verify: bool | str = True,
        proxies: dict[str, str] | None = None,
        pool_size: int = 32,
    ):
        self.timeout = _timeout(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff_factor = max(0.0, float(backoff_factor))
        self._pool_size = pool_size
        self._session = self._new_session(verify, proxies)
        self._session_pid = os.getpid()
        self._secrets: list[_Secret] = []
        self._lock = threading.Lock()
        _after_fork_reset.add(self)
        self._count = 0
        # Tests replace these to make backoff instant and deterministic.
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[], float] = random.random
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time  # this machine's clock, epoch seconds
        self._local = threading.local()  # the calling thread's deadline, if any
        self.max_answer_bytes = MAX_ANSWER_BYTES

    def _new_session(self, verify: bool | str, proxies: dict[str, str] | None) -> _Session:
        session = _Session()
        # Retries are ours (below), so urllib3's are off: one policy, one count.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self._pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = verify
        if proxies:
            session.proxies.update(proxies)
        session.headers["X-Qx-Client-Application"] = client_application_header()
        return session

    @property
    def session(self) -> _Session:
        """The requests Session of this process. A forked child builds its own on first use:
        the inherited pool's keep-alive sockets are the parent's too (both processes would
        read each other's answers)."""
        if self._session_pid != os.getpid():
            with self._lock:
                if self._session_pid != os.getpid():
                    old = self._session
                    self._session = self._new_session(old.verify, dict(old.proxies) or None)
                    self._session_pid = os.getpid()
        return self._session

    def _after_fork(self) -> None:
        """In a forked child, at once (kept cheap: other at-fork work waits for it): fresh
        locks, as one another parent thread held at the fork is never released there."""
        self._lock = threading.Lock()

    # --- bookkeeping -------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._count

    @property
    def thread_bytes_received(self) -> int:
        """Bytes of answer bodies the calling thread has received (retries included): what a
        caller holds in memory after its downloads, per job on a worker pool."""
        return getattr(self._local, "received", 0)

    @property
    def thread_last_url(self) -> str | None:
        """The URL the calling thread's last answer came from, after any redirects."""
        return getattr(self._local, "url", None)

    def add_secret(self, secret: _Secret) -> None:
        """Scrub ``secret`` from every message from now on."""
        if secret.value and secret not in self._secrets:
            self._secrets.append(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret.value and len(secret.value) >= MIN_SECRET:
                text = text.replace(secret.value, SCRUBBED)
        return text

    def close(self) -> None:
        self.session.close()

    @contextmanager
    def deadline(self, seconds: float | None) -> Iterator[None]:
        """Bound every request this thread sends in the block, retries included, to end
        within ``seconds`` (``None``: no bound); nested deadlines keep the earlier one.
        Past it, requests raise ``RequestDeadlineError``."""
        if seconds is None:
            yield
            return
        outer = getattr(self._local, "deadline", None)
        mine = self.clock() + max(0.0, float(seconds))
        self._local.deadline = mine if outer is None else min(outer, mine)
        try:
            yield
        finally:
            self._local.deadline = outer

    @contextmanager
    def cancel_on(self, event: threading.Event) -> Iterator[None]:
        """In the block, this thread's requests stop (``RequestCancelledError``) once
        ``event`` is set: no new attempt, and a backoff wait ends at once. A worker pool whose
        caller was interrupted (Ctrl-C) then winds down in one request, not a retry ladder."""
        outer = getattr(self._local, "cancel", None)
        self._local.cancel = event
        try:
            yield
        finally:
            self._local.cancel = outer

    def _check_cancel(self, where: str) -> None:
        event = getattr(self._local, "cancel", None)
        if event is not None and event.is_set():
            raise RequestCancelledError(self.scrub(f"{where} was not sent: cancelled."))

    def _remaining(self) -> float | None:
        deadline = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline - self.clock()

    # --- the request loop --------------------------------------------------------------

    def backoff(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based).

        A ``Retry-After`` header (429, or a 503 that sends one) wins; otherwise the
        exponential step ``backoff_factor * 2**(attempt-1)``, jittered to 50-150 % so a worker
        pool does not retry in lockstep.
        """
        if response is not None:
            after = _retry_after(response.headers.get("Retry-After"), response, self.wall)
            if after is not None:
                return min(after, MAX_RETRY_AFTER_SECONDS)
        base = self.backoff_factor * (2 ** (attempt - 1))
        step = min(MAX_BACKOFF_SECONDS, base * (0.5 + self.random()))
        if response is not None and response.status_code == 429:
            # No Retry-After: the real server's X-RateLimit-Reset says when the window opens.
            reset = _rate_limit_reset(response, self.wall)
            if reset is not None:
                return max(step, min(reset, MAX_RETRY_AFTER_SECONDS))
        return step

    def request(
        self,
        method: str,
        url: str,
        *,
        auth: _Secret | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        expect_json: bool = True,
        retry_malformed: bool | None = None,
        idempotent: bool = True,
        secret_answer: bool = False,
        secret_body: bool = False,
    ) -> Any:
        """Send one logical request (with retries); the decoded JSON (or text) or an ApiError.

        ``retry_malformed`` (default: GET and PUT, which are idempotent) also retries a 2xx
        body that is not JSON, which a flaky proxy or a truncated transfer produces.
        ``idempotent=False`` (job creation) retries a lost connection only when the request
        never left, so a dropped answer cannot create the job twice. ``secret_answer``: the
        answer carries a credential (the login's access token), so one that cannot be read
        is not quoted in the error: the credential is not known to ``scrub`` yet.
        ``secret_body``: the body carries a credential (the login's API token), and a 307 or
        308 would resend it wherever the server points: a redirect is refused instead.
        """
        if retry_malformed is None:
            retry_malformed = method in ("GET", "PUT")
        send_headers = _Masked(headers or {})
        if auth is not None:
            send_headers["X-Access-Token"] = auth.value
        where = _describe(method, url)
        attempts = self.max_retries + 1
        refused = 0  # connections that never opened: nobody listens, retry only a little
        for attempt in range(1, attempts + 1):
            self._check_cancel(where)
            response: requests.Response | None = None
            send_timeout = timeout or self.timeout
            remaining = self._remaining()
            if remaining is not None:
                if remaining <= 0:
                    raise RequestDeadlineError(self.scrub(
                        f"The deadline passed before {where} could be sent (attempt {attempt})."))
                send_timeout = (_capped(send_timeout[0], remaining),
                                _capped(send_timeout[1], remaining))
            with self._lock:
                self._count += 1
            try:
                session = self.session
                response = session.request(
                    method, url, params=params, json=json_body, data=data,
                    headers=send_headers, timeout=send_timeout,
                    # Per request: requests lets REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and *_PROXY
                    # from the environment override the session's own verify and proxies
                    # (what connect() was given); the environment still fills what is unset.
                    verify=session.verify, proxies=dict(session.proxies), stream=True,
                    allow_redirects=not secret_body,
                )
                # Read it all now, so a dropped body is retried here.
                body = self._read_answer(response, where, send_timeout[1])
                self._local.received = getattr(self._local, "received", 0) + len(body)
                self._local.url = response.url
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as err:
                if remaining is not None and isinstance(err, requests.Timeout) \
                        and send_timeout != (timeout or self.timeout):
                    raise RequestDeadlineError(self.scrub(
                        f"{where} was cut at the deadline ({remaining:.2f} s left): "
                        f"{_requests_message(err)}")) from None
                if _untrusted_certificate(err):
                    # Fails the same way every time: no retry, and say how to trust it.
                    raise RequestsApiError(self.scrub(
                        f"{_requests_message(err)} ({where}): the server's TLS certificate "
                        "could not be verified. If it is signed by your organisation's CA, "
                        "pass connect(..., verify='/path/to/ca-bundle.pem') or set "
                        "REQUESTS_CA_BUNDLE; verify=False turns the check off (unsafe)."
                    )) from None
                never_sent = _never_sent(err)
                refused += never_sent
                if attempt < attempts and (idempotent or never_sent) \
                        and refused <= CONNECT_RETRIES:
                    self._retry_wait(where, attempt, attempts, type(err).__name__, None)
                    continue
                lost = "" if idempotent or never_sent else f" {MAY_HAVE_TAKEN_EFFECT}"
                raise RequestsApiError(self.scrub(
                    f"{_requests_message(err)} ({where}; gave up after {attempt} attempts)"
                    + lost)) from None
            except requests.RequestException as err:
                # Invalid URL, too many redirects...: not transient, no retry.
                raise RequestsApiError(self.scrub(f"{_requests_message(err)} ({where})")) from None

            status = response.status_code
            if secret_body and response.is_redirect:
                raise RequestsApiError(self.scrub(
                    f"The server redirected {where} to "
                    f"{_drop_queries(response.headers.get('Location', ''))}: the request "
                    "carries a credential and was not sent there. Connect to the service's "
                    "own URL, or check the proxy in the way."), status)
            if status >= 400:
                after = _retry_after(response.headers.get("Retry-After"), response, self.wall)
                if after is not None and after > MAX_RETRY_AFTER_SECONDS:
                    # The server asks us to stay away longer than we would wait: a retry
                    # before then is refused again (and lengthens some front ends' bans).
                    raise self._http_error(response, where, attempt, retry_after=after)
                if status in RETRY_STATUSES and attempt < attempts and (
                        idempotent or status in NOT_TAKEN_STATUSES):
                    self._retry_wait(where, attempt, attempts, f"HTTP {status}", response)
                    continue
                raise self._http_error(
                    response, where, attempt, note=None if idempotent or status not in
                    RETRY_STATUSES - NOT_TAKEN_STATUSES else MAY_HAVE_TAKEN_EFFECT)
            if not expect_json:
                return response.text
            if status == 204 or (not body.strip() and not retry_malformed):
                return None
            try:
                return json.loads(body)
            # An empty 200 counts too: every retried call answers JSON. RecursionError: JSON
            # nested deeper than the parser recurses, which is no ValueError.
            except (ValueError, RecursionError):
                if retry_malformed and attempt < attempts:
                    self._retry_wait(where, attempt, attempts, "a body that is not JSON", None)
                    continue
                snippet = "(not quoted: it may hold a credential)" if secret_answer \
                    else repr(self.scrub(body[:200].decode("utf-8", "replace")))
                raise ApiIBMQProtocolError(
                    f"The server answered {where} with a body that is not JSON (HTTP {status}): "
                    f"{snippet}. This could be caused by too many requests or a proxy "
                    "in the way; try again later."
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_answer(self, response: requests.Response, where: str,
                     read_timeout: float | None) -> bytes:
        """The body as it arrives, bounded: ``AnswerTooLargeError`` past
        ``max_answer_bytes``, ``requests.ReadTimeout`` (retried as any) when it trickles
        slower than ``MIN_ANSWER_RATE`` past the read timeout, ``RequestDeadlineError`` when
        the caller's deadline passes meanwhile."""
        limit = self.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        chunks: list[bytes] = []
        size, start = 0, self.clock()
        try:
            if declared.isdigit() and int(declared) > limit:
                raise self._too_large(where, response, limit)
            while chunk := _read1(response.raw):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(where, response, limit)
                chunks.append(chunk)
                elapsed = self.clock() - start
                if read_timeout is not None and elapsed > read_timeout \
                        and size < MIN_ANSWER_RATE * elapsed:
                    raise requests.ReadTimeout(
                        f"The answer arrived slower than {MIN_ANSWER_RATE} bytes/s: "
                        f"{size} bytes in {elapsed:.0f} s")
                remaining = self._remaining()
                if remaining is not None and remaining <= 0:
                    raise RequestDeadlineError(self.scrub(
                        f"{where} was cut at the deadline while its answer arrived "
                        f"({size} bytes)."))
        except BaseException:
            response.close()  # the rest of the body stays unread: the connection is not reused
            raise
        body = b"".join(chunks)
        response._content = body  # error messages read it again (response.json(), .content)
        return body

    def _too_large(self, where: str, response: requests.Response, limit: int) -> ApiError:
        return AnswerTooLargeError(self.scrub(
            f"The server's answer to {where} (HTTP {response.status_code}) is larger than "
            f"{limit} bytes, the limit of what jobarchive reads: not read. If the answer is "
            "a result that large, raise the limit: provider.api_client.transport."
            "max_answer_bytes = <bytes>."))

    def _retry_wait(self, where: str, attempt: int, attempts: int, why: str,
                    response: requests.Response | None) -> None:
        delay = self.backoff(attempt, response)
        remaining = self._remaining()
        if remaining is not None and delay >= remaining:
            raise RequestDeadlineError(self.scrub(
                f"{where} failed ({why}, attempt {attempt} of {attempts}) and the deadline "
                f"passes before the next retry is due ({remaining:.2f} s left)."))
        logger.info("%s: retrying after %s (attempt %d of %d) in %.2f s",
                    self.scrub(where), why, attempt + 1, attempts, delay)
        event = getattr(self._local, "cancel", None)
        if event is not None and self.sleep is time.sleep:
            event.wait(delay)  # the same wait, ended early by a cancellation
        else:
            self.sleep(delay)
        self._check_cancel(where)

    def _http_error(self, response: requests.Response, where: str, attempt: int,
                    retry_after: float | None = None, note: str | None = None) -> ApiError:
        """The reference's message: ``<requests message>. <server message>, Error code: C.``"""
        try:
            response.raise_for_status()
            base = f"HTTP {response.status_code} for url: {response.url}"
        except requests.HTTPError as err:
            base = str(err)
        base = _drop_queries(base)
        code: int | None = None
        name: str | None = None
        try:
            payload = response.json()
        except (ValueError, RecursionError):
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        said = error.get("message") if isinstance(error, dict) else None
        if isinstance(error, dict) and (said or error.get("code") is not None):
            code = error.get("code")
            name = error.get("name")
            # Upstream's "<message>, Error code: C."; neither half is printed as "None"
            # (LoopBack errors may lack a code, realdata's codes are strings).
            if said and code is not None:
                message = f"{base}. {said}, Error code: {code}."
            elif said:
                message = f"{base}. {str(said).rstrip('.')}."
            else:
                message = f"{base}. Error code: {code}."
        else:
            text = _body_text(response)
            message = f"{base}. {text}" if text else base
        if attempt > 1:
            message += f" (gave up after {attempt} attempts)"
        hint = _STATUS_HINTS.get(response.status_code) or (
            _SERVER_ERROR_HINT if response.status_code >= 500 else None)
        if retry_after is not None:
            hint = (f"The server asks to wait {retry_after:.0f} s (Retry-After) before trying "
                    "again: try again after that.")
        if note:
            hint = note
        if hint:
            message += f" {hint}"
        message = _printable(self.scrub(message))
        if response.status_code == 401 and name == "ACCEPT_LICENSE_REQUIRED":
            return AuthenticationLicenseError(message)
        return RequestsApiError(message, response.status_code,
                                code if isinstance(code, int) else None)


_SERVER_ERROR_HINT = "The server (or a proxy in front of it) failed: try again later."
_STATUS_HINTS = {
    413: "The job is larger than the server accepts: split its circuits into several jobs.",
    429: "The server limits requests per minute: try again later, or with fewer workers.",
}
_TAGS = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.I | re.S)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)


def _body_text(response: requests.Response) -> str:
    """An error body for a message: an HTML page (a gateway's, a proxy's) or an XML error
    (object storage's) reduced to its title and text, anything else as sent; at most 500
    characters."""
    # Only the start: the pages worth reading are small, and the tag patterns below would
    # take quadratic time on megabytes of unclosed <script>s.
    head = response.content[:65536]
    try:
        text = head.decode(response.encoding or "utf-8", "replace").strip()
    except LookupError:  # a charset Python does not know
        text = head.decode("utf-8", "replace").strip()
    ctype = response.headers.get("Content-Type", "").lower()
    if "html" in ctype or "xml" in ctype or text[:1] == "<":
        is_html = "html" in ctype or text[:15].lower().startswith(("<!doctype html", "<html"))
        title = _TITLE.search(text)
        words = " ".join(html.unescape(_TAGS.sub(" ", _HIDDEN.sub(" ", text))).split())
        head = " ".join(html.unescape(title.group(1)).split()) if title else ""
        if head and not words.startswith(head):
            words = f"{head}: {words}" if words else head
        if is_html:
            words = f"(an HTML page) {words}" if words else "(an HTML page)"
        text = words
    return text[:500]


def _printable(text: str) -> str:
    """A message holding a server's words (and the reason of its status line) on one line,
    their control characters escaped: printed to a terminal, escape sequences would act."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " if c in "\t\n\r"
                   else c.encode("unicode_escape").decode("ascii") for c in text)


def _timeout(value: Any) -> tuple[float | None, float | None]:
    """``(connect, read)`` seconds from a ``timeout`` argument: None (the default), one
    number (the connect part at most ``DEFAULT_TIMEOUT[0]``) or a pair, whose None or inf
    means no limit as in requests (upstream's default is ``(5, None)``). ValueError for
    anything else, before a request is sent."""
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, int | float) and not isinstance(value, bool):
        read = _seconds(value, value)
        return (DEFAULT_TIMEOUT[0] if read is None else min(read, DEFAULT_TIMEOUT[0]), read)
    try:
        connect, read = value
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be seconds or a (connect, read) pair, not {value!r}."
                         ) from None
    return (_seconds(connect, value), _seconds(read, value))


def _seconds(part: Any, value: Any) -> float | None:
    if part is None or (isinstance(part, int | float) and part == float("inf")):
        return None
    if isinstance(part, int | float) and not isinstance(part, bool) and part > 0:
        return float(part)  # NaN fails `> 0`
    raise ValueError(f"timeout {value!r}: each part must be seconds > 0, or None for no limit.")


def _capped(limit: float | None, remaining: float) -> float:
    return remaining if limit is None else min(limit, remaining)


def _retry_after(value: str | None, response: requests.Response | None = None,
                 wall: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date). A date is
    measured on the server's clock (its ``Date`` header) when it sends one: a local clock
    minutes off must not turn "in 5 s" into no wait at all (or into minutes)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = _server_now(response) if response is not None else None
    return max(0.0, when.timestamp() - (wall() if now is None else now))


def _server_now(response: requests.Response) -> float | None:
    """The server's clock when it answered (its ``Date`` header), epoch seconds."""
    try:
        date = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return date.timestamp()


def _rate_limit_reset(response: requests.Response,
                      wall: Callable[[], float] = time.time) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch seconds), measured on the server's clock
    (its ``Date`` header) when it sends one, so a skewed local clock does not matter."""
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        return None
    now = _server_now(response)
    return max(0.0, reset - (wall() if now is None else now))


def _describe(method: str, url: str) -> str:
    """``GET /path`` without the query: pre-signed URLs carry signatures in it."""
    parts = urlsplit(url_without_password(url))
    return f"{method} {parts.scheme}://{parts.netloc}{parts.path}"


def url_without_password(url: str) -> str:
    """``url`` without the password of its userinfo (``https://user@gateway/api``): messages
    say such URLs, and archives, which travel, remember them."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))


def _never_sent(err: Exception) -> bool:
    """Whether a transport error happened before the request reached the server."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    reason = getattr(err.args[0], "reason", None) if err.args else None
    if isinstance(reason, urllib3.exceptions.ProxyError):  # the proxy could not be reached
        reason = reason.original_error
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _untrusted_certificate(err: Exception) -> bool:
    """Whether a transport error is a failed certificate verification (not transient)."""
    if not isinstance(err, requests.exceptions.SSLError):
        return False
    seen: set[int] = set()
    stack: list[Any] = [err]
    while stack:  # the ssl error sits in args / reason / __context__ of the wrappers
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        if isinstance(cur, BaseException):
            stack += [*cur.args, getattr(cur, "reason", None), cur.__cause__, cur.__context__]
    return "CERTIFICATE_VERIFY_FAILED" in str(err)


_QUERY = re.compile(r"\?[^\s'\")]*")
# LoopBack's (strong-remoting's) 404 for a path no remote method handles.
_NO_ROUTE = re.compile(r"no method (to handle|handling)", re.I)


def _drop_queries(text: str) -> str:
    """Cut URL query strings: pre-signed URLs carry signatures, list URLs long filters."""
    return _QUERY.sub("?...", text)


class _NoQueries(logging.Filter):
    """Cuts URL queries from a record's arguments: urllib3 logs every request line at DEBUG,
    and a pre-signed URL's query is its signature (whoever reads the log could fetch the
    result until the URL expires)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_drop_queries(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_NoQueries())


def _read1(raw: Any) -> bytes:
    """What arrived of a streamed body (up to ``ANSWER_CHUNK``); urllib3's errors as the
    requests errors ``response.content`` raises."""
    try:
        return raw.read1(ANSWER_CHUNK, decode_content=True)
    except urllib3.exceptions.ReadTimeoutError as err:
        raise requests.ReadTimeout(err) from err
    except urllib3.exceptions.SSLError as err:
        raise requests.exceptions.SSLError(err) from err
    except urllib3.exceptions.DecodeError as err:
        raise requests.exceptions.ContentDecodingError(err) from err
    except (urllib3.exceptions.ProtocolError, OSError) as err:
        raise requests.exceptions.ChunkedEncodingError(err) from err


def _requests_message(err: Exception) -> str:
    return _drop_queries(str(err) or type(err).__name__)


def _seg(value: str) -> str:
    """One URL path segment (job ids and names must not change the path)."""
    text = str(value)
    if text in ("", ".", ".."):
        # Percent-encoding does not help: requests decodes %2E, and dot segments are
        # resolved before sending (".." of a job id would send GET J/v/1 to {P}/v/1).
        raise ApiError(f"{text!r} is not a valid job id, backend, hub, group or project name: "
                       "in a URL it would address another endpoint.")
    return quote(text, safe="")


class AuthClient:
    """The login steps of reference §3.1 against the authentication URL."""

    def __init__(self, auth_url: str, transport: _Transport):
        self.auth_url = auth_url.rstrip("/")
        self.transport = transport

    def version(self) -> Any:
        """GET /version (no token). Where a redirect took it (http -> https, a moved host)
        becomes the auth URL: requests would resend the login POST there as a GET without
        its body. Never from https to http, where the API token would travel in clear."""
        answer = self.transport.request("GET", f"{self.auth_url}/version", retry_malformed=False)
        landed = self.transport.thread_last_url or ""
        if self.auth_url.startswith("https:") and not landed.startswith("https:"):
            raise ApiError(
                f"{self.auth_url}/version redirects to {_drop_queries(landed)}, which is not "
                "encrypted: the API token is not sent there. Use the https URL of the service.")
        if landed.endswith("/version"):
            self.auth_url = landed[: -len("/version")]
        return answer

    def login(self, token: _Secret) -> dict[str, Any]:
        """POST /users/loginWithToken; the answer's ``id`` is the access token."""
        # A login sent twice only hands out two access tokens: a cut answer is worth a retry.
        return self.transport.request(
            "POST", f"{self.auth_url}/users/loginWithToken", json_body=_Masked(apiToken=token.value),
            retry_malformed=True, secret_answer=True, secret_body=True)

    def access_token(self, token: _Secret) -> _Secret:
        """Log in and return the access token (scrubbed from messages from now on);
        ``ApiIBMQProtocolError`` when the answer holds none."""
        answer = self.login(token)
        access = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(access, str) or not access:
            raise ApiIBMQProtocolError("The login answer holds no access token.")
        secret = _Secret(access)
        self.transport.add_secret(secret)
        return secret

    def user_info(self, access_token: _Secret) -> dict[str, Any]:
        """GET /users/me (its ``urls.http`` is the API service URL)."""
        return self.transport.request("GET", f"{self.auth_url}/users/me", auth=access_token)

    def hubs(self, http_url: str, access_token: _Secret) -> Any:
        """GET {http}/Network: the hubs, groups and projects the user can use."""
        return self.transport.request("GET", f"{http_url.rstrip('/')}/Network", auth=access_token)


class ApiClient:
    """The job and backend calls of one hub/group/project; safe to share between threads.

    Methods take and return raw camelCase dicts and raise ``ApiError`` subclasses only.
    """

    def __init__(
        self,
        http_url: str,
        access_token: str | _Secret,
        hub: str = "ibm-q",
        group: str = "open",
        project: str = "main",
        *,
        transport: _Transport | None = None,
        timeout: float | tuple[float | None, float | None] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        relogin: Callable[[], _Secret] | None = None,
    ):
        self._transport = transport or _Transport(timeout, max_retries, backoff_factor)
        self._token = access_token if isinstance(access_token, _Secret) else _Secret(access_token)
        self._transport.add_secret(self._token)
        # Access tokens expire (the login answer's `ttl`, two weeks): a 401 logs in again with
        # the API token, once for all threads, and the call is repeated once.
        self._relogin = relogin
        self._renew_lock = threading.Lock()
        _after_fork_reset.add(self)
        self._token_since = self._now()
        self.http_url = http_url.rstrip("/")
        self.hub, self.group, self.project = hub, group, project
        self.user_id: str | None = None  # the account's id from users/me (set by connect())
        self._no_full_list = False  # the server answered it has no Jobs/v/1 route
        self.project_url = (f"{self.http_url}/Network/{_seg(hub)}/Groups/{_seg(group)}"
                            f"/Projects/{_seg(project)}")

    def __repr__(self) -> str:
        return (f"<ApiClient({self.http_url!r}, hub={self.hub!r}, group={self.group!r}, "
                f"project={self.project!r})>")

    def for_project(self, hub: str, group: str, project: str) -> ApiClient:
        """This account's client for another of its hub/group/projects: the same session,
        retry policy, counters and access token (a job's calls go to the project it ran in)."""
        if (hub, group, project) == (self.hub, self.group, self.project):
            return self
        other = ApiClient(self.http_url, self._token, hub, group, project,
                          transport=self._transport, relogin=self._relogin)
        other._token_since = self._token_since
        other.user_id = self.user_id
        return other

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._transport.request_count

    @property
    def thread_bytes_received(self) -> int:
        """Bytes of answers the calling thread has received so far (see ``_Transport``)."""
        return self._transport.thread_bytes_received

    @property
    def transport(self) -> _Transport:
        """The shared session, retry policy and counters."""
        return self._transport

    def deadline(self, seconds: float | None) -> Any:
        """Context manager: this thread's requests in the block end within ``seconds``,
        retries included, or raise ``RequestDeadlineError`` (``IBMQJob.wait_for_final_state``
        uses it so its timeout bounds the whole wait)."""
        return self._transport.deadline(seconds)

    def cancel_on(self, event: threading.Event) -> Any:
        """Context manager: this thread's requests in the block stop once ``event`` is set
        (``RequestCancelledError``), backoff waits included."""
        return self._transport.cancel_on(event)

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    # --- plumbing ----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self._token
        try:
            return self._transport.request(method, self.project_url + path, auth=token, **kwargs)
        except RequestsApiError as err:
            if err.status_code != 401:
                raise
            if not self._renew(token, err):
                raise RequestsApiError(
                    f"{err} The server refused the access token: check that the API token is "
                    "valid and may use this hub/group/project, then connect() again.",
                    err.status_code, err.error_code) from err
        try:
            return self._transport.request(method, self.project_url + path, auth=self._token,
                                           **kwargs)
        except RequestsApiError as err:
            if err.status_code != 401:
                raise
            raise RequestsApiError(
                f"{err} The server refused a fresh access token too: check that the API token "
                "may use this hub/group/project and connect() again.",
                err.status_code, err.error_code) from err

    def _after_fork(self) -> None:
        self._renew_lock = threading.Lock()  # a parent thread may have been logging in

    def _renew(self, failed: _Secret, err: RequestsApiError) -> bool:
        """Replace the access token ``failed`` after a 401; whether the call is worth
        repeating. One login for all threads; none for a token younger than a minute (a 401
        then means something else, e.g. the 2018 API's answer for an unknown job id). A login
        that fails other than by refusing the API token raises (``RequestsApiError``)."""
        if self._relogin is None:
            return False
        with self._renew_lock:
            if self._token is not failed:
                return True  # another thread has logged in again meanwhile
            if self._token_age() < RELOGIN_MIN_AGE_SECONDS:
                return False
            try:
                fresh = self._relogin()
            except (RequestDeadlineError, RequestCancelledError):
                raise  # the caller's own limits, which it tells by their class
            except ApiError as login_err:
                status = getattr(login_err, "status_code", -1)
                if status in (400, 401, 403) or isinstance(login_err, AuthenticationLicenseError):
                    logger.warning("Logging in again after %s failed: %s", err.status_code,
                                   login_err)
                    return False  # the API token itself was refused
                # The login service is down, rate limiting or garbled: no verdict on the token,
                # and callers (sync's breaker) must count it as the server's failure.
                raise RequestsApiError(
                    f"{err} The access token has expired and logging in again failed: "
                    f"{login_err}", status,
                    getattr(login_err, "error_code", None)) from login_err
            self._token, self._token_since = fresh, self._now()
            logger.info("The access token was refused; logged in again with the API token.")
            return True

    def _now(self) -> tuple[float, float]:
        return self._transport.clock(), self._transport.wall()

    def _token_age(self) -> float:
        """Seconds since the access token was issued, by the later of two clocks: the
        monotonic one stops while a laptop sleeps, and a token issued just before the lid
        closed read as a minute old after a night (its 401 taken for a refusal, no re-login)."""
        (clock, wall), (clock_then, wall_then) = self._now(), self._token_since
        return max(clock - clock_then, wall - wall_then)

    def _job(self, job_id: str) -> str:
        return f"/Jobs/{_seg(job_id)}"

    def _object_storage(self, method: str, url: str, **kwargs: Any) -> Any:
        # Pre-signed URLs: sent bare, without the access token (reference §3.2).
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiIBMQProtocolError("The server sent an invalid object storage URL: "
                                       f"{_drop_queries(repr(url)[:200])}")
        return self._transport.request(method, url, timeout=OBJECT_STORAGE_TIMEOUT, **kwargs)

    def _download(self, url_of: Callable[[], Any]) -> Any:
        """GET a pre-signed URL from ``url_of()``. Object storage refusing it (403: it expired
        while retries waited, or its signing key was rotated) is worth one fresh URL."""
        url = url_of()  # a 403 from the API itself is no expired URL
        try:
            return self._object_storage("GET", url)
        except RequestsApiError as err:
            if err.status_code != 403:
                raise
            logger.info("Object storage refused a download URL (%s); asking for a new one.", err)
        return self._object_storage("GET", url_of())

    @staticmethod
    def _expect(value: Any, kind: type, what: str) -> Any:
        if not isinstance(value, kind):
            raise ApiIBMQProtocolError(
                f"Unexpected answer to {what}: expected a JSON {kind.__name__}, "
                f"got {type(value).__name__}.")
        return value

    # --- jobs ----------------------------------------------------------------------------

    def job_get(self, job_id: str) -> dict[str, Any]:
        """GET J/v/1: the full job document."""
        return self._expect(self._call("GET", self._job(job_id) + "/v/1"), dict, "job info")

    def job_status(self, job_id: str) -> dict[str, Any]:
        """GET J/status/v/1: ``{"status": ..., "infoQueue"?: ...}``."""
        answer = self._call("GET", self._job(job_id) + "/status/v/1")
        if not isinstance(answer, dict) or "status" not in answer:
            raise ApiIBMQProtocolError(
                f"Unexpected answer to the status request of job {job_id}: {answer!r:.200}. "
                "This could be caused by too many requests.")
        return answer

    def job_cancel(self, job_id: str) -> dict[str, Any]:
        """POST J/cancel."""
        # Cancelling twice is harmless, so a garbled answer is worth another try.
        answer = self._call("POST", self._job(job_id) + "/cancel", retry_malformed=True)
        return answer if isinstance(answer, dict) else {}

    def job_update_attribute(self, job_id: str, attr: str, value: Any) -> dict[str, Any]:
        """PUT J ``{attr: value}``; returns the server's echo."""
        answer = self._call("PUT", self._job(job_id), json_body={attr: value})
        return answer if isinstance(answer, dict) else {}

    def job_properties(self, job_id: str) -> dict[str, Any] | None:
        """GET J/properties: the backend properties when the job ran, or None."""
        answer = self._call("GET", self._job(job_id) + "/properties")
        return answer if isinstance(answer, dict) and answer else None

    def job_result_url(self, job_id: str) -> str:
        """GET J/resultDownloadUrl."""
        answer = self._expect(self._call("GET", self._job(job_id) + "/resultDownloadUrl"),
                              dict, "the result URL request")
        return answer.get("url")

    def job_result(self, job_id: str, acknowledge: bool = True) -> dict[str, Any]:
        """The result dict: result URL, bare download, then a best-effort acknowledgement
        (``acknowledge=False``: the caller sends it with ``job_result_downloaded`` once the
        result is safe, as some results can be read only once)."""
        result = self._expect(self._download(lambda: self.job_result_url(job_id)), dict,
                              "the result download")
        if acknowledge:
            self.job_result_downloaded(job_id)
        return result

    def job_result_downloaded(self, job_id: str) -> None:
        """POST J/resultDownloaded, best effort: a failure is only logged, and retries end
        within ``ACKNOWLEDGE_SECONDS``."""
        try:
            with self.deadline(ACKNOWLEDGE_SECONDS):
                self._call("POST", self._job(job_id) + "/resultDownloaded")
        except ApiError as err:
            logger.warning("Job %s: acknowledging the result download failed: %s", job_id, err)

    def job_qobj(self, job_id: str) -> dict[str, Any]:
        """The qobj dict the job ran: jobDownloadUrl, then a bare download."""
        def url() -> Any:
            return self._expect(self._call("GET", self._job(job_id) + "/jobDownloadUrl"),
                                dict, "the qobj URL request").get("url")

        return self._expect(self._download(url), dict, "the qobj download")

    def list_jobs(self, filter: dict[str, Any], full: bool = False) -> list[dict[str, Any]]:  # noqa: A002
        """One page of GET {P}/Jobs/status/v/1?filter=<LoopBack JSON>.

        ``full=True`` asks ``{P}/Jobs/v/1`` instead, whose documents are those of
        ``job_get`` (timePerStep, clientInfo, error...): one request refreshes a page of jobs.
        """
        params = {"filter": json.dumps(filter, separators=(",", ":"))}
        if full and not self._no_full_list:
            try:
                answer = self._call("GET", "/Jobs/v/1", params=params)
            except RequestsApiError as err:
                # No such route (clients used it only from 0.20 on, reference §7): an older
                # server answers 404 "There is no method to handle". Its list items then
                # serve, and callers read each job in full where they need it.
                if err.status_code != 404 or err.error_code == JOB_NOT_FOUND_CODE:
                    raise
                # Only the server's own words say the route is missing for good; another 404
                # (a proxy's page while a front end is redeployed) falls back for this page.
                missing = _NO_ROUTE.search(str(err)) is not None
                logger.info("%s (%s); listing Jobs/status/v/1 instead.",
                            "The server has no Jobs/v/1" if missing else "Jobs/v/1 was not found",
                            err)
                if missing:
                    self._no_full_list = True
            else:
                return self._expect(answer, list, "the job list request")
        answer = self._call("GET", "/Jobs/status/v/1", params=params)
        return self._expect(answer, list, "the job list request")

    def submit_job(
        self,
        backend_name: str,
        qobj: dict[str, Any],
        name: str | None = None,
        tags: list[str] | None = None,
        share_level: str | None = None,
        experiment_id: str | None = None,
    ) -> dict[str, Any]:
        """Create the job, upload its qobj, confirm; returns the job document.

        If the upload or the confirmation fails, the job is cancelled (best effort) and the
        error re-raised, so no half-submitted job is left waiting for data.
        """
        data = encode_qobj(qobj)  # before anything is sent: a qobj JSON cannot carry fails here
        body: dict[str, Any] = {"backend": {"name": backend_name}, "allowObjectStorage": True}
        # As upstream: each only when truthy (a job_name of "" leaves the job unnamed).
        if name:
            body["name"] = name
        if share_level:
            body["shareLevel"] = share_level
        if tags:
            body["tags"] = tags
        if experiment_id:
            body["experimentTag"] = experiment_id  # as 0.20 sends it (reference §7)
        created = self._expect(self._call("POST", "/Jobs", json_body=body, idempotent=False),
                               dict, "the job creation request")
        if "error" in created:
            return created
        job_id = created.get("id")
        upload_url = (created.get("objectStorageInfo") or {}).get("uploadUrl")
        if not isinstance(job_id, str) or not upload_url:
            raise ApiIBMQProtocolError(
                "Unexpected answer to the job creation request: it lacks the job id or the "
                "upload URL.")
        try:
            self._object_storage(
                "PUT", upload_url, data=data,
                headers={"Content-Type": "application/json"}, expect_json=False)
        except ApiError:
            self._best_effort_cancel(job_id)
            raise
        try:
            confirmed = self._call("POST", self._job(job_id) + "/jobDataUploaded")
        except ApiError:
            # The confirmation may have taken effect although its answer was lost or garbled
            # (or a retry of it was refused): a job past CREATING runs, and is not cancelled.
            doc = self._job_if_confirmed(job_id)
            if doc is not None:
                return doc
            self._best_effort_cancel(job_id)
            raise
        if isinstance(confirmed, dict) and isinstance(confirmed.get("job"), dict):
            return confirmed["job"]
        if isinstance(confirmed, dict) and confirmed.get("id") == job_id:
            return confirmed
        # The confirmation carried no document: read it.
        return self.job_get(job_id)

    def _job_if_confirmed(self, job_id: str) -> dict[str, Any] | None:
        """The job's document when the server has taken its data (status past CREATING)."""
        try:
            doc = self.job_get(job_id)
        except ApiError as err:
            logger.warning("Job %s: reading it after a failed confirmation failed too: %s",
                           job_id, err)
            return None
        status = doc.get("status")
        return doc if isinstance(status, str) and status != "CREATING" else None

    def _best_effort_cancel(self, job_id: str) -> None:
        try:
            self.job_cancel(job_id)
        except ApiError as err:
            logger.warning("Job %s: cancelling after a failed submission failed too: %s",
                           job_id, err)

    # --- backends ------------------------------------------------------------------------

    def _device(self, name: str) -> str:
        return f"/devices/{_seg(name)}"

    def list_backends(self) -> list[dict[str, Any]]:
        """GET {P}/devices/v/1: backend configuration dicts."""
        return self._expect(self._call("GET", "/devices/v/1"), list, "the backend list request")

    def backend_properties(self, name: str, before: datetime | str | None = None) -> dict[str, Any]:
        """GET B/properties?version=1 (optionally the last ones before a date)."""
        params: dict[str, Any] = {"version": 1}
        if before is not None:
            when = before.astimezone(UTC).isoformat() if isinstance(before, datetime) else before
            params["filter"] = json.dumps({"where": {"last_update_date": {"lt": when}}})
        answer = self._call("GET", self._device(name) + "/properties", params=params)
        answer = answer if isinstance(answer, dict) else {}
        if answer:
            answer.setdefault("backend_name", name)
        return answer

    def backend_status(self, name: str) -> dict[str, Any]:
        """GET B/queue/status."""
        return self._expect(self._call("GET", self._device(name) + "/queue/status"), dict,
                            "the backend status request")

    def backend_job_limit(self, name: str) -> dict[str, Any]:
        """GET B/jobsLimit: ``{"maximumJobs": n, "runningJobs": m}``."""
        return self._expect(self._call("GET", self._device(name) + "/jobsLimit"), dict,
                            "the job limit request")

    def backend_pulse_defaults(self, name: str) -> dict[str, Any]:
        """GET B/defaults."""
        answer = self._call("GET", self._device(name) + "/defaults")
        return answer if isinstance(answer, dict) else {}


__all__ = ["AnswerTooLargeError", "ApiClient", "AuthClient", "DEFAULT_BACKOFF_FACTOR", "DEFAULT_MAX_RETRIES",
           "DEFAULT_TIMEOUT", "RETRY_STATUSES", "QobjEncodingError", "RequestCancelledError",
           "RequestDeadlineError", "client_application_header", "encode_qobj"]
