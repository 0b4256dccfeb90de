"""The emulator's HTTP server: the legacy IBM Quantum API over real sockets.

A ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, one thread per connection) routes every
endpoint of reference §3.1-§3.4 and §6 to :class:`~jobarchive.emulator.state.State`. Object
storage (qobj upload and download, result download) is served by the same server under
``/storage/`` with pre-signed URLs, as the real server handed out S3 URLs. Security: binds
127.0.0.1 by default, every endpoint but ``version`` and ``loginWithToken`` needs a valid
``X-Access-Token``, bodies are capped (413), job ids in paths are checked, malformed input
gets a 4xx error body, and nothing (the token included) is logged.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ..status import API_FINAL_STATUSES, SHARE_LEVELS
from . import backends, websocket
from .filters import FilterError, ListFilter, parse_date_ms
from .jobs import USER_ID, Job, Project, fmt_ms
from .state import Faults, State, Stats

MAX_BODY = 50 * 1024 * 1024
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BACKEND_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?\Z")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
MAX_TAGS = 1000
MAX_TEXT = 4096
RATE_LIMIT = 50  # X-RateLimit-Limit of the recorded real answers
ACCESS_TTL_S = 1209600  # an access token's life (the login answer's `ttl`), emulated seconds
# The only fields of a `Jobs/status/v/1` item the real server sent in 2021 (realdata
# ibmqclient_jl_records/jobs.json): no name, tags or shareLevel.
LEAN_LIST_FIELDS = frozenset({"kind", "backend", "status", "creationDate", "hubInfo", "endDate",
                              "runMode", "id", "userId"})


class HttpError(Exception):
    """An error answer: HTTP status plus the reference's error body."""

    def __init__(self, status: int, code: int | str, message: str, name: str = "Error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.name = status, code, message, name
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"name": self.name, "status": self.status, "statusCode": self.status,
                          "code": self.code, "message": self.message}}


def _unauthorized() -> HttpError:
    return HttpError(401, "AUTHORIZATION_REQUIRED", "Authorization Required")


def _job_not_found(job_id: str) -> HttpError:
    return HttpError(404, 3250, f"Job not found: {job_id}.")


class Request:
    """What a route handler needs from one request."""

    __slots__ = ("method", "path", "query", "headers", "body", "params", "project", "now",
                 "user")

    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
                 body: bytes, params: dict[str, str]) -> None:
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.body, self.params = body, params
        self.project: Project | None = None
        self.now = 0
        self.user: str | None = None  # the account the access token belongs to

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise HttpError(400, "INVALID_JSON", "The request body is not valid JSON.") from None


Answer = tuple[int, Any, dict[str, str]]
_P = r"/api/Network/(?P<hub>[^/]+)/Groups/(?P<group>[^/]+)/Projects/(?P<project>[^/]+)"
_J = _P + r"/Jobs/(?P<job>[^/]+)"
_B = _P + r"/devices/(?P<backend>[^/]+)"


class Routes:
    """Route table and handlers; one instance per emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.state: State = emu._state
        raw: list[tuple[str, str, str, Callable[[Request], Answer], str]] = [
            ("GET", r"/api/version", "version", self.version, "none"),
            ("POST", r"/api/users/loginWithToken", "login", self.login, "none"),
            ("GET", r"/api/users/me", "users_me", self.users_me, "token"),
            ("GET", r"/api/Network", "network", self.network, "token"),
            ("GET", r"/api/Network/bookings/v2", "bookings", self.bookings, "token"),
            ("GET", r"/api/Network/devices/(?P<backend>[^/]+)/bookings/v2", "bookings",
             self.bookings, "token"),
            ("GET", _P + r"/Jobs/status/v/1", "jobs_list", self.jobs_list, "token"),
            ("GET", _P + r"/Jobs/v/1", "jobs_list_v1", self.jobs_list_full, "token"),
            ("POST", _P + r"/Jobs", "job_create", self.job_create, "token"),
            ("GET", _J + r"/status(?:/v/1)?", "job_status", self.job_status, "token"),
            ("POST", _J + r"/cancel", "job_cancel", self.job_cancel, "token"),
            ("GET", _J + r"/properties", "job_properties", self.job_properties, "token"),
            ("GET", _J + r"/resultDownloadUrl", "job_result_url", self.job_result_url, "token"),
            ("POST", _J + r"/resultDownloaded", "job_result_downloaded",
             self.job_result_downloaded, "token"),
            ("GET", _J + r"/jobDownloadUrl", "job_qobj_url", self.job_qobj_url, "token"),
            ("POST", _J + r"/jobDataUploaded", "job_data_uploaded", self.job_data_uploaded,
             "token"),
            ("GET", _J + r"(?:/v/1)?", "job_get", self.job_get, "token"),
            ("PUT", _J, "job_update", self.job_update, "token"),
            ("PATCH", _J, "job_update", self.job_update, "token"),
            ("DELETE", _J, "job_delete", self.job_delete, "token"),
            ("GET", _P + r"/devices/v/1", "devices", self.devices, "token"),
            ("GET", _B + r"/properties", "backend_properties", self.backend_properties, "token"),
            ("GET", _B + r"/queue/status", "backend_status", self.backend_status, "token"),
            ("GET", _B + r"/jobsLimit", "backend_jobs_limit", self.backend_jobs_limit, "token"),
            ("GET", _B + r"/defaults", "backend_defaults", self.backend_defaults, "token"),
            ("PUT", r"/storage/qobj/(?P<job>[^/]+)", "storage_upload", self.storage_upload,
             "signed"),
            ("GET", r"/storage/qobj/(?P<job>[^/]+)", "storage_qobj", self.storage_qobj,
             "signed"),
            ("GET", r"/storage/result/(?P<job>[^/]+)", "storage_result", self.storage_result,
             "signed"),
            ("GET", r"/ws(?:/.*)?", "websocket", self.websocket, "none"),
        ]
        self.table = [(m, re.compile(p + r"/?\Z"), name, fn, auth) for m, p, name, fn, auth in raw]

    def match(self, method: str, path: str) -> tuple[str, Callable[[Request], Answer], str,
                                                      dict[str, str]] | None:
        for m, rx, name, fn, auth in self.table:
            if m == method:
                hit = rx.match(path)
                if hit:
                    return name, fn, auth, {k: v for k, v in hit.groupdict().items()
                                            if v is not None}
        return None

    # -- helpers ----------------------------------------------------------------------------
    def _job(self, req: Request) -> Job:
        job_id = unquote(req.params["job"])
        if not JOB_ID_RE.match(job_id):
            raise HttpError(400, "INVALID_JOB_ID", "The job id is not valid.")
        held = self.state.jobs.get(job_id)
        if held is not None and held.unreachable is not None and not held.deleted \
                and held.project is req.project:
            raise HttpError(*held.unreachable)  # whoever asks (make_unreachable)
        try:
            return self.state.get(job_id, req.project, req.user)
        except KeyError:
            raise _job_not_found(job_id) from None

    def _backend(self, req: Request) -> backends.BackendSpec:
        name = unquote(req.params["backend"])
        spec = backends.BY_NAME.get(name) if BACKEND_RE.match(name) else None
        if spec is None or spec.retired:
            raise HttpError(404, "BACKEND_NOT_FOUND", f"Backend {name[:64]} not found.")
        return spec

    def _sign(self, kind: str, job_id: str, expires: str = "") -> str:
        signed = f"{kind}:{job_id}" + (f":{expires}" if expires else "")
        return hmac.new(self.emu._secret, signed.encode(), hashlib.sha256).hexdigest()

    def origin(self, req: Request) -> str:
        """Where the client reached the server. Bound to every address (``--host 0.0.0.0``)
        that is the Host it asked for: another machine sent to ``127.0.0.1`` would reach
        itself (and hand its access token to whatever listens there)."""
        host = req.headers.get("Host") or ""
        if self.emu.host in WILDCARD_HOSTS and HOST_RE.match(host):
            return f"http://{host}"
        return self.emu.base_url

    def signed_url(self, kind: str, job_id: str, req: Request) -> str:
        base = f"{self.origin(req)}/storage/{kind}/{job_id}"
        if self.emu.url_ttl is None:
            return f"{base}?sig={self._sign(kind, job_id)}"
        expires = str(self.emu._state.clock.now_ms() + int(self.emu.url_ttl * 1000))
        return f"{base}?expires={expires}&sig={self._sign(kind, job_id, expires)}"

    def check_signature(self, req: Request, kind: str) -> None:
        sig = (req.query.get("sig") or [""])[0]
        expires = (req.query.get("expires") or [""])[0]
        job_id = unquote(req.params["job"])
        if not JOB_ID_RE.match(job_id) or not hmac.compare_digest(
                sig, self._sign(kind, job_id, expires)):
            raise HttpError(403, "AccessDenied", "The request signature is not valid.")
        if expires and self.emu._state.clock.now_ms() >= int(expires):
            # S3's answer to a pre-signed URL past its X-Amz-Expires.
            raise HttpError(403, "AccessDenied", "Request has expired")

    # -- login flow (§3.1) ------------------------------------------------------------------
    def version(self, req: Request) -> Answer:
        return 200, {"api-auth": "0.1.0", "api-jobs": "2.1.0", "new_api": True}, {}

    def login(self, req: Request) -> Answer:
        body = req.json()
        token = body.get("apiToken") if isinstance(body, dict) else None
        user = self.emu._account_of(token)
        if user is None:
            raise HttpError(401, "LOGIN_FAILED", "Login failed: the API token is not valid.")
        if user in self.emu._license_required:
            raise HttpError(401, "ACCEPT_LICENSE_REQUIRED",
                            "You must accept the license agreement before using the API.",
                            name="ACCEPT_LICENSE_REQUIRED")
        access = self.emu._new_access_token(user)
        return 200, {"id": access, "ttl": ACCESS_TTL_S, "created": fmt_ms(req.now),
                     "userId": user}, {}

    def users_me(self, req: Request) -> Answer:
        origin = self.origin(req)
        return 200, {
            "id": req.user or USER_ID, "username": "emulator", "email": "emulator@localhost",
            "urls": {"http": f"{origin}/api", "ws": f"{origin.replace('http:', 'ws:', 1)}/ws"},
            "canScheduleBackends": False, "needsRefill": False, "ibmQNetwork": True,
        }, {}

    def network(self, req: Request) -> Answer:
        hubs: dict[str, dict[str, Any]] = {}
        devices = {b.backend_id: {"priority": 1, "name": b.name, "deleted": False,
                                  "configuration": {"limit": -1, "capabilities": {
                                      "maxExperiments": 75, "maxShots": 8192}}}
                   for b in backends.ACTIVE}
        # The default project's hub last, as in the recorded real answer (realdata hubs.json):
        # clients must pick the default by its isDefault flag, not by position.
        for p in sorted(self.state.projects, key=lambda p: p.is_default):
            hub = hubs.setdefault(p.hub, {"name": p.hub, "title": p.hub, "isDefault": False,
                                          "deleted": False, "private": False, "groups": {}})
            hub["isDefault"] = hub["isDefault"] or p.is_default
            group = hub["groups"].setdefault(p.group, {"name": p.group, "title": p.group,
                                                       "isDefault": p.is_default, "projects": {}})
            group["projects"][p.project] = {"name": p.project, "title": p.project,
                                            "isDefault": p.is_default, "devices": devices}
        return 200, list(hubs.values()), {}

    def bookings(self, req: Request) -> Answer:
        return 200, [], {}

    # -- jobs (§3.2, §6) --------------------------------------------------------------------
    def _listed(self, req: Request) -> tuple[ListFilter, list[tuple[Job, str]]]:
        raw = (req.query.get("filter") or [None])[-1]
        try:
            flt = ListFilter(raw)
        except FilterError as exc:
            raise HttpError(400, "INVALID_FILTER", f"Invalid filter: {exc}") from None
        assert req.project is not None
        if self.emu.max_page is not None and (flt.limit is None or flt.limit > self.emu.max_page):
            flt.limit = self.emu.max_page  # a server answers at most so many jobs a request
        return flt, self.state.list_jobs(flt, req.project, req.now, req.user)

    def jobs_list(self, req: Request) -> Answer:
        flt, found = self._listed(req)
        docs = [job.base_doc(status, req.now) for job, status in found]
        if self.emu.lean_lists:
            docs = [{k: v for k, v in d.items() if k in LEAN_LIST_FIELDS} for d in docs]
        return 200, [flt.project(d) for d in docs], {}

    def jobs_list_full(self, req: Request) -> Answer:
        """``Jobs/v/1``: the documents ``GET J/v/1`` answers, narrowed by ``fields``."""
        if self.emu.no_full_lists:
            raise HttpError(404, "NOT_FOUND", f"There is no method to handle GET {req.path}.")
        if self.emu.lean_full_lists:
            return self.jobs_list(req)
        flt, found = self._listed(req)
        return 200, [
            flt.project(job.full_doc(status, req.now, self.state.output_size(job)
                                     if status == "COMPLETED" else None))
            for job, status in found
        ], {}

    def job_create(self, req: Request) -> Answer:
        body = req.json()
        if not isinstance(body, dict):
            raise HttpError(400, "INVALID_JOB", "The job must be a JSON object.")
        backend = body.get("backend")
        name = backend.get("name") if isinstance(backend, dict) else None
        spec = backends.BY_NAME.get(name) if isinstance(name, str) else None
        if spec is None or spec.retired:
            raise HttpError(400, "BACKEND_NOT_FOUND", f"Backend {str(name)[:64]} not found.")
        job_name = body.get("name")
        if job_name is not None and (not isinstance(job_name, str) or len(job_name) > MAX_TEXT):
            raise HttpError(400, "INVALID_JOB_NAME", "The job name must be a string.")
        # Fields not given stay out of the job's documents, as the real server's do.
        tags = body.get("tags")
        _check_tags(tags or [])
        share = body.get("shareLevel")
        if share is not None and share not in SHARE_LEVELS:
            raise HttpError(400, "INVALID_SHARE_LEVEL",
                            f"Share level must be one of {', '.join(SHARE_LEVELS)}.")
        exp_tag = body.get("experimentTag")
        if exp_tag is not None and not isinstance(exp_tag, str):
            raise HttpError(400, "INVALID_EXPERIMENT_TAG", "experimentTag must be a string.")
        assert req.project is not None
        limit = self.emu._state.job_limit
        if limit is not None and self.state.running_jobs(spec.name, req.project, req.now) >= limit:
            # The real server's words (qiskit-aqua issue 884, 2020).
            raise HttpError(400, 3458, f"Reached maximum number ({limit}) of concurrent jobs")
        job = self.state.create(req.project, spec.name, job_name, tags, share,
                                _client_info(req.headers.get("X-Qx-Client-Application")),
                                exp_tag, req.user)
        doc = job.full_doc("CREATING", self.emu._state.clock.now_ms())
        doc["objectStorageInfo"] = {"uploadUrl": self.signed_url("qobj", job.id, req),
                                    "maxJobSizeInBytes": self.emu.max_body}
        return 200, doc, {}

    def job_data_uploaded(self, req: Request) -> Answer:
        job = self._job(req)
        if not self.state.confirm(job):
            raise HttpError(400, "JOB_NOT_CREATING", "The job is not waiting for its data.")
        now = self.emu._state.clock.now_ms()
        return 200, {"job": job.full_doc(self.state.status(job, now), now)}, {}

    def job_get(self, req: Request) -> Answer:
        job = self._job(req)
        status = self.state.status(job, req.now)
        out = self.state.output_size(job) if status == "COMPLETED" else None
        return 200, job.full_doc(status, req.now, out), {}

    def job_status(self, req: Request) -> Answer:
        job = self._job(req)
        return 200, job.status_doc(self.state.status(job, req.now), req.now), {}

    def job_cancel(self, req: Request) -> Answer:
        job = self._job(req)
        if not self.state.cancel(job):
            status = self.state.status(job)
            raise HttpError(400, 3209, f"The job cannot be cancelled: it is already {status}.")
        return 200, {"cancelled": True}, {}

    def job_update(self, req: Request) -> Answer:
        job = self._job(req)
        body = req.json()
        if not isinstance(body, dict) or not body or set(body) - {"name", "tags"}:
            raise HttpError(400, "INVALID_ATTRIBUTE", "Only 'name' and 'tags' can be updated.")
        echo: dict[str, Any] = {}
        if "name" in body:
            if not isinstance(body["name"], str) or len(body["name"]) > MAX_TEXT:
                raise HttpError(400, "INVALID_JOB_NAME", "The job name must be a string.")
            echo["name"] = body["name"]
        if "tags" in body:
            _check_tags(body["tags"], required=True)
            echo["tags"] = list(body["tags"])
        self.state.update(job, name=echo.get("name", ...), tags=echo.get("tags", ...))
        return 200, echo, {}

    def job_delete(self, req: Request) -> Answer:
        job = self._job(req)
        self.state.delete(job)
        return 204, None, {}

    def job_properties(self, req: Request) -> Answer:
        job = self._job(req)
        spec = backends.BY_NAME.get(job.backend)
        return 200, ({} if spec is None else backends.properties(spec, job.created)), {}

    def job_result_url(self, req: Request) -> Answer:
        job = self._job(req)
        status = self.state.status(job, req.now)
        if status not in API_FINAL_STATUSES:
            raise HttpError(400, 3207, f"Job {job.id} is not in a final state: {status}.")
        if self.state.result(job, req.now) is None or job.id in self.emu._consumed:
            raise HttpError(404, 3252, f"There is no result for job {job.id}.")
        return 200, {"url": self.signed_url("result", job.id, req)}, {}

    def job_result_downloaded(self, req: Request) -> Answer:
        job = self._job(req)
        if self.emu.consume_results:
            with self.emu._access_lock:
                self.emu._consumed.add(job.id)
        return 200, {"terminated": True}, {}

    def job_qobj_url(self, req: Request) -> Answer:
        job = self._job(req)
        if self.state.qobj(job) is None:
            raise HttpError(404, 3253, f"There is no job data for job {job.id}.")
        return 200, {"url": self.signed_url("qobj", job.id, req)}, {}

    # -- object storage ----------------------------------------------------------------------
    def _storage_job(self, req: Request, kind: str) -> Job:
        self.check_signature(req, kind)
        try:
            return self.state.get(unquote(req.params["job"]))
        except KeyError:
            raise HttpError(404, "NoSuchKey", "The specified key does not exist.") from None

    def storage_upload(self, req: Request) -> Answer:
        job = self._storage_job(req, "qobj")
        if job.pending != "upload":
            raise HttpError(403, "AccessDenied", "The upload URL has expired.")
        self.state.upload(job, req.body)
        return 200, b"", {}

    def storage_qobj(self, req: Request) -> Answer:
        job = self._storage_job(req, "qobj")
        qobj = self.state.qobj(job)
        if qobj is None:
            raise HttpError(404, "NoSuchKey", "The specified key does not exist.")
        return 200, qobj, {}

    def storage_result(self, req: Request) -> Answer:
        job = self._storage_job(req, "result")
        result = self.state.result(job)
        if result is None or job.id in self.emu._consumed:
            raise HttpError(404, "NoSuchKey", "The specified key does not exist.")
        return 200, result, {}

    def websocket(self, req: Request) -> Answer:
        # Reached only without an Upgrade handshake (the stream itself is websocket.serve).
        raise HttpError(400, "WEBSOCKET_UPGRADE_REQUIRED",
                        "Open this URL as a websocket, or poll the status endpoint.")

    # -- backends (§3.3) ---------------------------------------------------------------------
    def devices(self, req: Request) -> Answer:
        return 200, [backends.configuration(b) for b in backends.ACTIVE], {}

    def backend_properties(self, req: Request) -> Answer:
        spec = self._backend(req)
        at = req.now
        raw = (req.query.get("filter") or [None])[-1]
        if raw:
            try:
                flt = json.loads(raw)
                before = flt["where"]["last_update_date"]["lt"]
            except (ValueError, KeyError, TypeError, RecursionError):
                raise HttpError(400, "INVALID_FILTER", "Invalid properties filter.") from None
            ms = parse_date_ms(before)
            if ms is None:
                raise HttpError(400, "INVALID_FILTER", "last_update_date needs an ISO date.")
            at = ms - 86_400_000
        return 200, backends.properties(spec, at), {}

    def backend_status(self, req: Request) -> Answer:
        spec = self._backend(req)
        return 200, {"state": True, "status": "active",
                     "lengthQueue": self.state.queue_length(spec.name, req.now),
                     "backend_version": spec.version, "busy": False}, {}

    def backend_jobs_limit(self, req: Request) -> Answer:
        spec = self._backend(req)
        assert req.project is not None
        limit = self.state.job_limit
        return 200, {"maximumJobs": -1 if limit is None else limit,
                     "runningJobs": self.state.running_jobs(spec.name, req.project, req.now)}, {}

    def backend_defaults(self, req: Request) -> Answer:
        self._backend(req)
        return 200, {}, {}


def _rate_limit_headers(remaining: int, reset_after: float, now: float) -> dict[str, str]:
    """The real server's rate-limit headers (realdata: limit 50, reset in epoch seconds)."""
    return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(now + reset_after))}


def _check_tags(tags: Any, required: bool = False) -> None:
    if (required and tags is None) or not isinstance(tags, list) or len(tags) > MAX_TAGS or \
            not all(isinstance(t, str) and len(t) <= MAX_TEXT for t in tags):
        raise HttpError(400, "INVALID_TAGS", "Tags must be a list of strings.")


def _client_info(header: str | None) -> dict[str, Any] | None:
    """clientInfo from ``X-Qx-Client-Application: name/version[/custom]``."""
    if not header:
        return None
    parts = header.split("/")
    return {"name": parts[0][:MAX_TEXT],
            "version": parts[1][:MAX_TEXT] if len(parts) > 1 else None}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], emu: Emulator) -> None:
        self.emu = emu
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)

    def close_connections(self) -> None:
        """Hang up on every client (keep-alive connections would outlive the server)."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (or that we hang up on) are not errors worth printing.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls
    server_version = "jobarchive-emulator/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # never log: paths and headers may carry tokens

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header on the server's own wall clock (``Emulator.clock_skew``).
        return email.utils.formatdate(self.server.emu.wall_now() if timestamp is None
                                      else timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------
    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise HttpError(411, "LENGTH_REQUIRED", "Send a Content-Length; chunked bodies "
                                                    "are not accepted.")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise HttpError(400, "BAD_CONTENT_LENGTH", "Content-Length is not a number.") from None
        if length < 0:
            raise HttpError(400, "BAD_CONTENT_LENGTH", "Content-Length is negative.")
        if length > limit:
            raise HttpError(413, "PAYLOAD_TOO_LARGE",
                            f"The request body exceeds the limit of {limit} bytes.")
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        emu = self.server.emu
        routes: Routes = emu._routes
        try:
            body = self._read_body(emu.max_body)
        except HttpError as exc:
            emu._stats.hit("rejected")
            self.close_connection = True  # the unread body would corrupt the next request
            self._send(exc.status, exc.body(), exc.headers)
            return
        if emu.max_url is not None and len(self.path) > emu.max_url:
            # As a front end (or Node's header limit) refuses it, before any routing.
            emu._stats.hit("rejected")
            err = HttpError(414, "URI_TOO_LONG",
                            f"The request URL is longer than {emu.max_url} bytes.")
            self._send(err.status, err.body(), {})
            return
        split = urlsplit(self.path)
        path = split.path
        hit = routes.match(method, path)
        if hit is None:
            emu._stats.hit("unknown")
            err = HttpError(404, "NOT_FOUND", f"There is no method to handle {method} "
                                              f"{path[:200]}.")
            self._send(err.status, err.body(), {})
            return
        name, fn, auth, params = hit
        emu._stats.hit(name)
        if emu._latency > 0:
            time.sleep(emu._latency)
        try:
            req = Request(method, path, parse_qs(split.query, keep_blank_values=True),
                          self.headers, body, params)
            if auth == "token":
                req.user = emu._check_token(self.headers.get("X-Access-Token"))
            fault = emu._faults.decide(name)
            # A status or drop fault answers instead of the request, or (faults "processed")
            # after it took effect, as a gateway that times out on a slow origin does.
            after = fault is not None and fault not in ("latency", "malformed", "garbled") \
                and emu._faults.processed
            if fault is not None and fault not in ("latency", "malformed", "garbled") \
                    and not after:
                self._inject(fault, emu)
                return
            if fault == "latency":
                time.sleep(emu._faults.latency)
            if name == "websocket" and method == "GET" and websocket.is_upgrade(self.headers):
                websocket.serve(self, emu, path)
                return
            if "hub" in params:
                req.project = emu._state.project(unquote(params["hub"]), unquote(params["group"]),
                                                 unquote(params["project"]))
                if req.project is None:
                    raise HttpError(404, "PROJECT_NOT_FOUND", "Hub, group or project not found.")
            req.now = emu._state.clock.now_ms()
            if fault == "malformed" and method != "GET":
                self._inject(fault, emu)
                return
            status, payload, headers = fn(req)
            if after:
                self._inject(fault, emu)
                return
        except HttpError as exc:
            self._send(exc.status, exc.body(), exc.headers)
            return
        except Exception as exc:  # never crash a connection thread; answer like a server would
            err = HttpError(500, "INTERNAL_ERROR", f"Internal error: {type(exc).__name__}")
            self._send(err.status, err.body(), {})
            return
        data = payload if isinstance(payload, bytes) else (
            b"" if payload is None else orjson.dumps(payload))
        if fault in ("malformed", "garbled"):
            data = data[: max(1, len(data) // 2)] if len(data) > 2 else b"<html>oops"
        self._send(status, data, headers)

    def _inject(self, fault: str, emu: Emulator) -> None:
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "malformed":
            garbage = (b'{"status": "COMPL', b"<html><body>502 Bad Gateway</body></html>",
                       b"not json at all", b"")
            self._send(200, garbage[emu._faults.pick(len(garbage))], {})
            return
        status = int(fault)
        headers = {}
        if status == 429:
            if emu._faults.retry_after is not None:
                headers["Retry-After"] = (
                    email.utils.formatdate(emu.wall_now() + emu._faults.retry_after,
                                           usegmt=True)
                    if emu._faults.retry_after_date else str(emu._faults.retry_after))
            headers.update(_rate_limit_headers(0, emu._faults.reset_after, emu.wall_now()))
            err = HttpError(429, "TOO_MANY_REQUESTS", "Too many requests, slow down.")
        elif status == 404:
            self._send(404, b"<html><head><title>404 Not Found</title></head><body><center>"
                       b"<h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>",
                       {}, content_type="text/html")
            return
        else:
            err = HttpError(status, "INJECTED_FAULT", f"Injected fault {status}.")
        self._send(status, err.body(), headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str],
              content_type: str = "application/json; charset=utf-8") -> None:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        try:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if status != 204 and data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Emulator:
    """A local emulator of the legacy IBM Quantum API (see DESIGN.md "The emulator").

    ``Emulator(seed_jobs=N, seed=S, seed_active=M, time_scale=60.0, faults=None, latency=0.0,
    host="127.0.0.1", port=0, token=None)``; use it as a context manager or call
    ``start()``/``stop()``. Extra keywords: ``max_body`` (bytes, default 50 MB),
    ``job_limit`` (active jobs per backend, default no limit), ``clock_start`` (epoch
    seconds of the emulated clock at start, default now), ``lean_lists`` (``Jobs/status/v/1``
    items carry only the fields the real server's list sent in 2021: no name, tags or
    shareLevel), ``lean_full_lists`` (``Jobs/v/1`` answers those list items too: what the
    real server answers there without ``fields`` was never recorded), ``seed_tied`` (that
    many more final jobs right after the history, all created in one millisecond),
    ``max_url`` (a request URL longer than that many bytes answers 414, as a front end
    would; default None: only http.server's own 64 KB request-line limit), ``max_page`` (a
    job list answers at most that many jobs, whatever limit it was asked for),
    ``memory_results`` (seeded jobs ran with ``memory=True``: their results hold every
    shot's outcome, hundreds of KB each), ``clock_skew`` (seconds the server's wall clock
    runs ahead of this machine's, for its Date and rate-limit headers), ``consume_results``
    (a result whose download was acknowledged is not served again; ``result_of`` still
    tells what it was), ``url_ttl`` (emulated seconds an object-storage URL stays valid;
    past it the URL answers 403 "Request has expired", as an S3 pre-signed URL does;
    default None: never), ``naive_result_dates`` (results carry ``date`` without a zone, to
    the microsecond, as object storage served them in 2021: ``2021-05-04T11:35:02.660124``),
    ``no_full_lists`` (no ``Jobs/v/1`` route, which clients used only from 0.20 on, reference
    §7: it answers LoopBack's 404 "There is no method to handle", as an older server would).
    Accounts: ``emu.token`` is the first; ``add_account()`` makes more, on the same
    projects, each seeing only its own jobs; ``revoke_token(token)`` withdraws one.
    """

    def __init__(self, seed_jobs: int = 0, seed: int = 0, seed_active: int = 0,
                 time_scale: float = 60.0, faults: dict[str, Any] | None = None,
                 latency: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, *, max_body: int = MAX_BODY,
                 job_limit: int | None = None, clock_start: float | None = None,
                 lean_lists: bool = False, lean_full_lists: bool = False,
                 seed_tied: int = 0, max_url: int | None = None,
                 max_page: int | None = None, memory_results: bool = False,
                 clock_skew: float = 0.0, consume_results: bool = False,
                 naive_result_dates: bool = False, no_full_lists: bool = False,
                 url_ttl: float | None = None) -> None:
        self._state = State(seed_jobs=seed_jobs, seed=seed, seed_active=seed_active,
                            time_scale=time_scale, job_limit=job_limit, clock_start=clock_start,
                            seed_tied=seed_tied, memory_results=memory_results,
                            naive_result_dates=naive_result_dates)
        self._stats = Stats()
        self._faults = Faults(faults)
        self._latency = 0.0
        self.set_latency(latency)
        self.host, self.port = host, port
        self._access_lock = threading.Lock()
        self._token = token if token is not None else secrets.token_hex(32)
        self._accounts: dict[str, str] = {self._token: USER_ID}  # API token -> user id
        self._license_required: set[str] = set()  # user ids whose login asks for the license
        self.max_body = int(max_body)
        self.lean_lists = bool(lean_lists)
        self.lean_full_lists = bool(lean_full_lists)
        self.no_full_lists = bool(no_full_lists)
        self.max_url = None if max_url is None else int(max_url)
        self.max_page = None if max_page is None else int(max_page)
        # Seconds the server's wall clock (Date, Retry-After dates, X-RateLimit-Reset) is
        # ahead of this machine's: clients must not trust their own clock for those.
        self.clock_skew = float(clock_skew)
        # "Some results can be read only once" (reference §4.5): once a download is
        # acknowledged (resultDownloaded), the result is no longer served.
        self.consume_results = bool(consume_results)
        self._consumed: set[str] = set()
        self.url_ttl = None if url_ttl is None else float(url_ttl)
        self._secret = secrets.token_bytes(32)
        # access token -> (expiry in emulated epoch ms, the account's user id)
        self._access: dict[str, tuple[int, str]] = {}
        self._routes = Routes(self)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # the token stays out of reprs
        where = self.base_url if self._server is not None else "not started"
        return f"<Emulator {where} jobs={len(self._state.jobs)}>"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind (port 0 picks a free port) and serve on a background thread."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"jobarchive-emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start (if needed) and block until interrupted (Ctrl-C)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # -- addresses --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started: use `with Emulator() as emu` or "
                               "emu.start()")
        host = self.host if self.host not in WILDCARD_HOSTS else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The auth URL for ``connect()`` / ``IBMQ.enable_account(token, url=...)``."""
        return f"{self.base_url}/api"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/ws"

    def wall_now(self) -> float:
        """The server's wall clock (epoch seconds): this machine's plus ``clock_skew``."""
        return time.time() + self.clock_skew

    # -- tokens -----------------------------------------------------------------------------
    @property
    def token(self) -> str:
        """The API token of the first account (what ``loginWithToken`` accepts)."""
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        # A new token for the same account: the old one no longer logs in.
        with self._access_lock:
            user = self._accounts.pop(self._token, USER_ID)
            self._accounts[value] = user
            self._token = value

    def _account_of(self, token: Any) -> str | None:
        """The user id of an API token, or None when no account has it."""
        if not isinstance(token, str):
            return None
        with self._access_lock:
            accounts = list(self._accounts.items())
        found = None
        for known, user in accounts:  # compare with every one: no early exit on a match
            if hmac.compare_digest(token.encode(), known.encode()):
                found = user
        return found

    def _new_access_token(self, user: str = USER_ID) -> str:
        """A new access token, valid for ``ACCESS_TTL_S`` on the emulated clock (the login
        answer's ``ttl``); past it every call with it answers 401, as the real server's do."""
        access = secrets.token_hex(32)
        expires = self._state.clock.now_ms() + ACCESS_TTL_S * 1000
        with self._access_lock:
            self._access[access] = (expires, user)
        return access

    def _user_of(self, value: str | None) -> str | None:
        """The account of a valid access token, or None."""
        if not value:
            return None
        with self._access_lock:
            entry = self._access.get(value)
        if entry is None or self._state.clock.now_ms() >= entry[0]:
            return None
        return entry[1]

    def _token_ok(self, value: str | None) -> bool:
        return self._user_of(value) is not None

    def _check_token(self, value: str | None) -> str:
        user = self._user_of(value)
        if user is None:
            raise _unauthorized()
        return user

    def add_account(self, token: str | None = None, license_required: bool = False) -> str:
        """Another account (its own user id) on the same hubs/groups/projects; returns its
        API token. Accounts see only their own jobs, as on the real server.
        ``license_required``: its login answers 401 ACCEPT_LICENSE_REQUIRED (reference §3.0),
        as for a new user who has not accepted the license yet."""
        token = token if token is not None else secrets.token_hex(32)
        with self._access_lock:
            if token in self._accounts:
                raise ValueError("that token already belongs to an account")
            self._accounts[token] = user = secrets.token_hex(12)
            if license_required:
                self._license_required.add(user)
        return token

    def revoke_token(self, token: str | None = None) -> None:
        """Withdraw an API token (default ``emu.token``) and the access tokens of its logins:
        from now on its calls answer 401 and logging in with it fails."""
        token = self.token if token is None else token
        with self._access_lock:
            user = self._accounts.pop(token, None)
            if user is not None and user not in self._accounts.values():
                self._access = {a: e for a, e in self._access.items() if e[1] != user}

    # -- inspection and control (for tests, benchmarks and the demo) --------------------------
    def now(self) -> float:
        """The emulated clock, epoch seconds."""
        return self._state.clock.now()

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward by ``seconds`` (jobs progress accordingly)."""
        self._state.clock.advance(seconds)

    def job_docs(self) -> list[dict[str, Any]]:
        """Full raw camelCase documents of every job, oldest first (as ``GET J/v/1``)."""
        now = self._state.clock.now_ms()
        return [self._full_doc(j, now) for j in self._state.all_jobs()]

    def job_doc(self, job_id: str) -> dict[str, Any]:
        """The full document of one job (KeyError if unknown)."""
        job = self._state.get(job_id)
        return self._full_doc(job, self._state.clock.now_ms())

    def _full_doc(self, job: Job, now: int) -> dict[str, Any]:
        status = self._state.status(job, now)
        out = self._state.output_size(job) if status == "COMPLETED" else None
        return job.full_doc(status, now, out)

    def result_of(self, job_id: str) -> dict[str, Any] | None:
        """The result dict the job's result URL serves, or None."""
        return self._state.result(self._state.get(job_id))

    def qobj_of(self, job_id: str) -> dict[str, Any] | None:
        """The qobj the job ran, or None."""
        return self._state.qobj(self._state.get(job_id))

    def stats(self) -> dict[str, int]:
        """Requests served: ``{"total": n, "<endpoint>": n, ...}``.

        Endpoint names: version, login, users_me, network, bookings, devices,
        backend_properties, backend_status, backend_jobs_limit, backend_defaults, jobs_list
        (``Jobs/status/v/1``), jobs_list_v1 (``Jobs/v/1``), job_create, job_get, job_status,
        job_cancel, job_update, job_delete, job_properties, job_result_url,
        job_result_downloaded, job_qobj_url, job_data_uploaded, storage_upload, storage_qobj,
        storage_result, websocket, unknown (no route) and rejected (refused before routing,
        e.g. 413). Faulted requests count too.
        """
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def set_faults(self, spec: dict[str, Any] | None) -> None:
        """Inject faults: ``{"rate", "kinds", "latency", "retry_after", "seed", "endpoints"}``.

        kinds: "500", "502", "503", "504", "429" (with Retry-After unless ``retry_after`` is
        None, as an HTTP date if ``retry_after_date``, and X-RateLimit-* headers resetting
        ``reset_after`` s ahead), "latency", "drop"
        (close without answering), "malformed" (a truncated or non-JSON 200; a POST is not
        carried out), and, only when named, "garbled" (carried out, its answer cut), "520",
        "522", "524" (Cloudflare's) and "404" (a proxy's HTML page, not the server's answer).
        ``processed``: the status and drop faults come after the request was carried out (a
        gateway timing out on a slow origin), not instead of it. Login endpoints are spared
        unless ``endpoints`` names them. ``None`` turns faults off.
        """
        self._faults = Faults(spec)

    def set_latency(self, seconds: float) -> None:
        """A fixed delay before every answer."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)

    def update_job(self, job_id: str, **changes: Any) -> None:
        """Change a job's ``name`` and/or ``tags`` as if done elsewhere."""
        unknown = set(changes) - {"name", "tags"}
        if unknown:
            raise TypeError(f"update_job() got unexpected fields {sorted(unknown)}")
        job = self._state.get(job_id)
        self._state.update(job, name=changes.get("name", ...),
                           tags=changes.get("tags", ...))

    def delete_job(self, job_id: str) -> None:
        """Delete a job as ``DELETE J`` does: from then on it answers 404, code 3250."""
        self._state.delete(self._state.get(job_id))

    def restore_job(self, job_id: str) -> None:
        """Undo ``delete_job`` (a server that answered "not found" for a while, e.g. during
        a failover): the job answers and is listed again."""
        with self._state.lock:
            self._state.jobs[job_id].deleted = False

    def make_unreachable(self, job_id: str, status: int | None = 500,
                         code: int | str = "INTERNAL_ERROR",
                         message: str = "Internal error") -> None:
        """The server stops listing a job and answers every request about it with this
        error (not "not found"), as for a job of a retired platform; ``None`` status undoes."""
        job = self._state.jobs[job_id]
        job.unreachable = None if status is None else (int(status), code, str(message))

    def drop_qobj(self, job_id: str) -> None:
        """Make the server hold no qobj for a job (``jobDownloadUrl`` answers 404, code 3253)."""
        self._state.get(job_id).qobj_lost = True


__all__ = ["Emulator", "HttpError"]
