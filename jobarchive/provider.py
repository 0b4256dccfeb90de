"""``connect()``, the provider and its backends: login, listing, retrieval and submission.

The provider follows qiskit-ibmq-provider 0.11.1 (reference §3.1, §6): the login flow picks
one hub/group/project, ``jobs()`` builds a LoopBack ``where`` filter from the same
arguments as ``IBMQBackend.jobs()`` and pages through the results with keyset pagination on
the creation date. All HTTP goes through ``jobarchive.api``.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from qiskit.providers import JobStatus

from .api import (
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_MAX_RETRIES,
    ApiClient,
    AuthClient,
    QobjEncodingError,
    _drop_queries,
    _Secret,
    _Transport,
    url_without_password,
)
from .exceptions import (
    JOB_NOT_FOUND_CODE,
    ApiError,
    ApiIBMQProtocolError,
    AuthenticationLicenseError,
    IBMQAccountCredentialsInvalidToken,
    IBMQAccountCredentialsInvalidUrl,
    IBMQBackendApiError,
    IBMQBackendApiProtocolError,
    IBMQBackendError,
    IBMQBackendJobLimitError,
    IBMQBackendValueError,
    IBMQError,
    IBMQProviderError,
    JobValidationError,
    RequestsApiError,
)
from .job import IBMQJob, validate_tags
from .status import SHARE_LEVELS, parse_job_status

logger = logging.getLogger(__name__)

DEFAULT_AUTH_URL = "https://auth.quantum-computing.ibm.com/api"
UNLIMITED_PAGE_SIZE = 20  # upstream's page size when no limit is given
# Ids in one `id nin` (~33 URL bytes each): beyond it, jobs sharing a creation date are paged
# by id, so a list URL stays a few KB (front ends refuse URLs of 8 KB or more).
MAX_NIN_IDS = 100

# JobStatus -> LoopBack `where` clause (reference §6).
_STATUS_FILTERS: dict[JobStatus, dict[str, Any]] = {
    JobStatus.INITIALIZING: {"status": {"inq": ["CREATING", "CREATED"]}},
    JobStatus.VALIDATING: {"status": {"inq": ["VALIDATING", "VALIDATED"]}},
    JobStatus.RUNNING: {"status": "RUNNING"},
    JobStatus.QUEUED: {"status": "QUEUED"},
    JobStatus.CANCELLED: {"status": "CANCELLED"},
    JobStatus.DONE: {"status": "COMPLETED"},
    JobStatus.ERROR: {"status": {"regexp": "^ERROR"}},
}
ACTIVE_STATUSES = [JobStatus.INITIALIZING, JobStatus.VALIDATING, JobStatus.QUEUED,
                   JobStatus.RUNNING]


def connect(
    url: str = DEFAULT_AUTH_URL,
    token: str | None = None,
    hub: str | None = None,
    group: str | None = None,
    project: str | None = None,
    *,
    timeout: float | tuple[float | None, float | None] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    verify: bool | str = True,
    proxies: dict[str, str] | None = None,
) -> IBMQProvider:
    """Log in to an IBM Quantum (legacy API) authentication URL, or the emulator's ``emu.url``.

    Runs reference §3.1: GET /version, POST /users/loginWithToken, GET /users/me, GET
    {http}/Network; ``hub``/``group``/``project`` pick one provider (the default one when
    none is given). ``timeout`` is seconds or ``(connect, read)`` (None: no limit);
    ``max_retries`` and ``backoff_factor`` set the retry policy of every request.

    Raises ``IBMQAccountCredentialsInvalidUrl`` (not an authentication URL),
    ``IBMQAccountCredentialsInvalidToken`` (token refused), ``IBMQProviderError`` (no
    provider, or several, match), ``RequestsApiError`` for other server trouble and
    ``ApiIBMQProtocolError`` for answers that cannot be read.
    """
    if not isinstance(token, str) or not token:
        raise IBMQAccountCredentialsInvalidToken("A non-empty API token (a string) is required.")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # e.g. "http://[::1": urllib refuses to split it
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise IBMQAccountCredentialsInvalidUrl(
            f"The URL specified ({url!r}) is not a valid http(s) URL, e.g. "
            f"{DEFAULT_AUTH_URL} or the emulator's emu.url."
        )
    secret = _Secret(token)
    del token  # verbose tracebacks (IPython's, rich's) print every local of this frame
    transport = _Transport(timeout, max_retries, backoff_factor, verify, proxies)
    transport.add_secret(secret)
    auth = AuthClient(url, transport)
    shown = url_without_password(url)  # messages reach cron logs

    try:
        version = auth.version()
    except ApiError as err:
        raise IBMQAccountCredentialsInvalidUrl(
            f"The URL specified ({shown}) is not an IBM Quantum authentication URL: {err}"
        ) from err
    if not isinstance(version, dict) or "api-auth" not in version:
        raise IBMQAccountCredentialsInvalidUrl(
            f"The URL specified ({shown}) is not an IBM Quantum authentication URL: its /version "
            "answer has no 'api-auth' entry."
        )

    try:
        access_token = auth.access_token(secret)
    except AuthenticationLicenseError as err:
        raise AuthenticationLicenseError(
            f"{err} Log in once at https://quantum-computing.ibm.com and accept the license "
            "agreement there, then connect() again.") from err
    except RequestsApiError as err:
        if err.status_code in (400, 401, 403):
            raise IBMQAccountCredentialsInvalidToken(
                f"Login with the API token failed: the server refused it ({err})."
            ) from err
        raise
    except ApiIBMQProtocolError as err:
        # An answer that is not JSON (a proxy's page, a cut body) or lacks the access token
        # is no verdict on the token: saying it is sends users to make a new one for nothing.
        raise ApiIBMQProtocolError(
            f"Login with the API token got an answer that cannot be read, which says nothing "
            f"about the token: {err}") from err

    me = auth.user_info(access_token)
    urls = me.get("urls") if isinstance(me, dict) else None
    http_url = urls.get("http") if isinstance(urls, dict) else None
    if not isinstance(http_url, str) or not http_url:
        raise IBMQAccountCredentialsInvalidUrl(
            f"The server at {shown} did not say where its API service is (users/me has no urls.http).")
    if auth.auth_url.startswith("https:") and not http_url.startswith("https:"):
        # Not refused: a TLS front before the login alone is a known setup (a local gateway).
        warnings.warn(
            f"The server at {shown} says its API service is at {_drop_queries(http_url)}, "
            "which is not encrypted: the access token travels there in clear.", stacklevel=2)

    hubs = auth.hubs(http_url, access_token)
    triples = _provider_triples(hubs)
    chosen = [t for t in triples
              if (hub is None or t[0] == hub) and (group is None or t[1] == group)
              and (project is None or t[2] == project)]
    wanted = ", ".join(f"{k}={v!r}" for k, v in
                       (("hub", hub), ("group", group), ("project", project)) if v is not None)
    if not chosen:
        raise IBMQProviderError(
            "No provider matches the criteria" + (f" ({wanted})" if wanted else "")
            + ". Available: " + (", ".join("/".join(t[:3]) for t in triples) or "none") + ".")
    if wanted and len(chosen) > 1:
        raise IBMQProviderError(
            f"More than one provider matches the criteria ({wanted}): "
            + ", ".join("/".join(t[:3]) for t in chosen) + ". Specify hub, group and project.")
    h, g, p, _ = chosen[0]
    client = ApiClient(http_url, access_token, h, g, p, transport=transport,
                       relogin=lambda: auth.access_token(secret))
    user_id = me.get("id") if isinstance(me, dict) else None
    client.user_id = user_id if isinstance(user_id, str) and user_id else None
    provider = IBMQProvider(client, url)
    provider.projects = [t[:3] for t in triples]
    return provider


def _provider_triples(hubs: Any) -> list[tuple[str, str, str, bool]]:
    """(hub, group, project, is_default) from GET /Network, the default one first."""
    out: list[tuple[str, str, str, bool]] = []
    if not isinstance(hubs, list):
        raise IBMQProviderError("The server's list of hubs (GET /Network) is not a list.")
    for hub in hubs:
        # Entries that cannot name a provider are skipped: a hub named None would become
        # URLs of a hub "None", and the names are joined for messages.
        if not isinstance(hub, dict) or not isinstance(hub.get("name"), str) or not hub["name"]:
            continue
        groups = hub.get("groups") or {}
        for group_name, group in (groups.items() if isinstance(groups, dict) else ()):
            projects = group.get("projects") if isinstance(group, dict) else None
            for project_name, project in (projects.items() if isinstance(projects, dict) else ()):
                if not isinstance(project or {}, dict):
                    continue
                default = bool((project or {}).get("isDefault"))
                out.append((hub["name"], group_name, project_name, default))
    out.sort(key=lambda t: not t[3])  # stable: the default first, the rest in server order
    return out


# --- filters ---------------------------------------------------------------------------


def _to_utc_iso(value: datetime | str, name: str) -> str:
    """Local time -> UTC ISO (reference §6): naive is local, aware converts exactly."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise IBMQBackendValueError(
                f'"{value}" is not a valid {name} value: use a datetime or an ISO-8601 string.'
            ) from None
    if not isinstance(value, datetime):
        raise IBMQBackendValueError(
            f'"{value}" is not a valid {name} value: use a datetime or an ISO-8601 string.')
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time
    return value.astimezone(UTC).isoformat()


def build_where(
    backend_name: str | None = None,
    status: Any = None,
    job_name: str | None = None,
    start_datetime: datetime | str | None = None,
    end_datetime: datetime | str | None = None,
    job_tags: list[str] | None = None,
    job_tags_operator: str | None = "OR",
    db_filter: dict[str, Any] | None = None,
    experiment_id: str | None = None,
) -> dict[str, Any]:
    """The LoopBack ``where`` of ``jobs()`` (reference §6); IBMQBackendValueError on bad input."""
    where: dict[str, Any] = {}
    if experiment_id is not None:
        where["experimentTag"] = _experiment_id(experiment_id)
    ors: list[Any] = []
    ands: list[Any] = []
    if backend_name:
        where["backend.name"] = backend_name
    if status:
        statuses = status if isinstance(status, list | tuple) else [status]
        clauses = []
        for value in statuses:
            try:
                clauses.append(copy.deepcopy(_STATUS_FILTERS[parse_job_status(value)]))
            except ValueError as err:
                raise IBMQBackendValueError(str(err)) from None
        if len(clauses) == 1 and not isinstance(status, list | tuple):
            where.update(clauses[0])
        else:
            ors.extend(clauses)
    if job_name:
        where["name"] = {"regexp": job_name}
    if start_datetime or end_datetime:
        start = _to_utc_iso(start_datetime, "start_datetime") if start_datetime else None
        end = _to_utc_iso(end_datetime, "end_datetime") if end_datetime else None
        if start and end:
            where["creationDate"] = {"between": [start, end]}
        elif start:
            where["creationDate"] = {"gte": start}
        else:
            where["creationDate"] = {"lte": end}
    if job_tags:
        validate_tags(job_tags, IBMQBackendValueError)
        operator = job_tags_operator.upper() if isinstance(job_tags_operator, str) else None
        if operator == "OR":
            where["tags"] = {"inq": list(job_tags)}
        elif operator == "AND":
            ands.extend({"tags": tag} for tag in job_tags)
        else:
            raise IBMQBackendValueError(
                f'"{job_tags_operator}" is not a valid job_tags_operator value. '
                'Valid values are "AND" and "OR"')
    if db_filter:
        if not isinstance(db_filter, dict):
            raise IBMQBackendValueError(
                f'"{db_filter}" is not a valid db_filter value: it must be a dict '
                "(a LoopBack where filter).")
        extra = copy.deepcopy(db_filter)
        for key in ("and", "or"):
            if extra.get(key) is not None and not isinstance(extra[key], list):
                raise IBMQBackendValueError(
                    f"db_filter's '{key}' must be a list of where filters, e.g. "
                    f'{{"{key}": [{{"name": "a"}}, {{"name": "b"}}]}}.')
        ands = ands + list(extra.pop("and", None) or [])
        ors = ors + list(extra.pop("or", None) or [])
        where = {**extra, **where}
    if ands:
        where["and"] = ands
    if ors:
        where["or"] = ors
    return where


def _experiment_id(value: Any) -> str:
    if not isinstance(value, str):
        raise IBMQBackendValueError(
            f'"{value}" is not a valid experiment_id value: it must be a string.')
    return value


def _narrow(where: dict[str, Any], key: str, condition: Any) -> dict[str, Any]:
    """``where`` AND ``{key: condition}``: merged into ``and`` if ``key`` is already used."""
    out = dict(where)
    if key in out:
        out["and"] = list(out.get("and") or []) + [{key: condition}]
    else:
        out[key] = condition
    return out


def iter_pages(
    client: ApiClient,
    where: dict[str, Any] | None,
    descending: bool = True,
    limit: int | None = None,
    skip: int = 0,
    page_size: int | None = None,
    full: bool = False,
) -> Iterator[dict[str, Any]]:
    """Raw job documents, keyset-paged on ``creationDate`` (reference §6 "Pagination").

    ``full=True`` pages through full documents (``ApiClient.list_jobs(full=True)``).

    The first page uses ``skip``; later pages use ``skip=0`` and narrow the filter to
    ``creationDate <= last`` (``>=`` ascending) with ``id nin [...]``. The ``nin`` list holds
    every id already returned with the boundary date, not only the last one, so jobs that
    share a creation date are neither repeated nor skipped at a page boundary. Past
    ``MAX_NIN_IDS`` such ids (a batch created in one millisecond) the list would make URLs
    too long for the server, so the jobs of that one date are paged by id instead
    (``creationDate = D``, ordered by id, ``id > last``), then paging goes on strictly past D.
    """
    limit = limit or None
    size = page_size or (limit if limit else UNLIMITED_PAGE_SIZE)
    order = "creationDate DESC" if descending else "creationDate ASC"
    base = dict(where or {})
    collected = 0
    boundary_date: str | None = None
    boundary_ids: list[str] = []
    past_date: str | None = None   # the next page lies strictly beyond this date
    first = True
    while limit is None or collected < limit:
        ask = size if limit is None else min(size, limit - collected)
        if len(boundary_ids) > MAX_NIN_IDS:
            assert boundary_date is not None
            for doc in _iter_one_date(client, base, boundary_date, set(boundary_ids),
                                      descending, size, full):
                if limit is not None and collected >= limit:
                    return
                collected += 1
                yield doc
            past_date, boundary_date, boundary_ids = boundary_date, None, []
            continue
        query = base
        if past_date is not None:
            query = _narrow(query, "creationDate", {"lt" if descending else "gt": past_date})
        elif not first:
            query = _narrow(query, "creationDate",
                            {"lte" if descending else "gte": boundary_date})
            query = _narrow(query, "id", {"nin": list(boundary_ids)})
        page_filter: dict[str, Any] = {"order": order, "limit": ask, "skip": skip if first else 0}
        if query:
            page_filter["where"] = query
        page = client.list_jobs(page_filter, full=full)
        first = False
        past_date = None
        if not page:
            return
        for doc in page:
            if limit is not None and collected >= limit:
                return
            collected += 1
            yield doc
        if limit is not None and collected >= limit:
            return  # as upstream: no request past the jobs asked for
        last = page[-1]
        last_date = last.get("creationDate") if isinstance(last, dict) else None
        if not isinstance(last_date, str):
            raise IBMQBackendApiProtocolError(
                "A job in the server's list has no creationDate; cannot page further.")
        same = [d.get("id") for d in page
                if isinstance(d, dict) and d.get("creationDate") == last_date]
        if last_date == boundary_date:
            if not [i for i in same if i is not None and i not in boundary_ids]:
                # The server ignored `id nin`, or garbled the ids: the same jobs forever.
                raise IBMQBackendApiProtocolError(
                    "The server listed the same jobs again; cannot page further.")
            boundary_ids.extend(same)
        elif skip and len(same) == len(page) and boundary_date is None:
            # The first page after a skip is one tie group, which may reach back into the
            # skipped jobs: learn the whole group (server order) and exclude what lies
            # before and on this page, or the next page would repeat skipped jobs.
            boundary_date = last_date
            group_ids = _tie_group_until(client, base, order, last_date, same[-1], size)
            cut = group_ids.index(same[-1]) + 1 if same[-1] in group_ids else 0
            boundary_ids = group_ids[:cut] + same
        else:
            boundary_date, boundary_ids = last_date, same
        boundary_ids = list(dict.fromkeys(i for i in boundary_ids if i is not None))


def _tie_group_until(client: ApiClient, base: dict[str, Any], order: str, date: str,
                     last_id: Any, size: int) -> list[Any]:
    """Ids of the jobs created at ``date``, in the server's order, up to ``last_id``: paged
    with ``skip`` (the order the first page's skip counted in), as a server may answer fewer
    jobs than a request asks for."""
    ids: list[Any] = []
    query = _narrow(base, "creationDate", date)
    while True:
        page = client.list_jobs({"order": order, "limit": size, "skip": len(ids),
                                 "where": query})
        ids += [d.get("id") for d in page if isinstance(d, dict)]
        if not page or last_id in ids:
            return ids


def _iter_one_date(client: ApiClient, base: dict[str, Any], date: str, seen: set[str],
                   descending: bool, size: int, full: bool) -> Iterator[dict[str, Any]]:
    """Every job of ``base`` created at exactly ``date``, except ``seen``, keyset-paged on
    the id (ordered by id, ``id > last``): a request stays short however many jobs share
    the date. A server that does not order them by id would make jobs be skipped, so that is
    a protocol error."""
    direction, beyond = ("DESC", "lt") if descending else ("ASC", "gt")
    order = [f"creationDate {direction}", f"id {direction}"]
    last_id: str | None = None
    while True:
        query = _narrow(base, "creationDate", date)
        if last_id is not None:
            query = _narrow(query, "id", {beyond: last_id})
        page = client.list_jobs({"order": order, "limit": size, "skip": 0, "where": query},
                                full=full)
        for doc in page:
            job_id = doc.get("id") if isinstance(doc, dict) else None
            if not isinstance(job_id, str) or doc.get("creationDate") != date or (
                    last_id is not None and not (job_id < last_id if descending
                                                 else job_id > last_id)):
                raise IBMQBackendApiProtocolError(
                    f"The server does not order the jobs created at {date} by id; cannot page "
                    "through them.")
            last_id = job_id
            if job_id not in seen:
                yield doc
        if not page:  # not a short page: a server may answer fewer jobs than asked
            # Nothing at all came back: `creationDate = D` failed, unless the jobs seen at D
            # were deleted meanwhile (a colleague cleaning up a batch during a sync).
            if last_id is None and _any_listed_at(client, seen, date):
                raise IBMQBackendApiProtocolError(
                    f"The server lists none of the jobs created at {date} by that date; "
                    "cannot page through them.")
            return


def _any_listed_at(client: ApiClient, ids: set[str], date: str) -> bool:
    """Whether the server still lists one of ``ids`` (some of them) as created at ``date``."""
    sample = sorted(ids)[:MAX_NIN_IDS]
    page = client.list_jobs({"where": {"id": {"inq": sample}}, "limit": len(sample), "skip": 0})
    return any(isinstance(d, dict) and d.get("creationDate") == date for d in page)


# --- provider and backends ---------------------------------------------------------------


@dataclass(frozen=True)
class BackendStatus:
    """A backend's queue status (GET B/queue/status, as upstream builds it)."""

    backend_name: str
    backend_version: str
    operational: bool
    pending_jobs: int
    status_msg: str
    dedicated: bool = False


@dataclass(frozen=True)
class BackendJobLimit:
    """A backend's job limit for this account (GET B/jobsLimit, as upstream reads it)."""

    maximum_jobs: int | None  # None: no limit (the server's -1)
    active_jobs: int


class IBMQProvider:
    """One hub/group/project of an account: backends, jobs and retrieval."""

    def __init__(self, api_client: ApiClient, auth_url: str | None = None):
        self.api_client = api_client
        self.auth_url = auth_url
        self._backends: dict[str, IBMQBackend] | None = None
        # (hub, group, project) of every provider the account may use (from the login's
        # GET /Network), or None when not known.
        self.projects: list[tuple[str, str, str]] | None = None
        self._others: dict[tuple[str, str, str], IBMQProvider] = {}

    def for_project(self, hub: str, group: str, project: str) -> IBMQProvider:
        """The same account's provider for another of its hub/group/projects (no new login).

        Raises ``IBMQProviderError`` when the account's login did not list that project."""
        key = (hub, group, project)
        c = self.api_client
        if key == (c.hub, c.group, c.project):
            return self
        if key in self._others:
            return self._others[key]
        if self.projects is not None and key not in self.projects:
            raise IBMQProviderError(
                f"This account cannot use {hub}/{group}/{project} (it may use: "
                + (", ".join("/".join(t) for t in self.projects) or "none")
                + "): connect() with an account of that project.")
        other = IBMQProvider(c.for_project(hub, group, project), self.auth_url)
        other.projects = self.projects
        self._others[key] = other
        return other

    @property
    def credentials(self) -> dict[str, str]:
        """hub, group and project (never the token)."""
        c = self.api_client
        return {"hub": c.hub, "group": c.group, "project": c.project}

    def __repr__(self) -> str:
        c = self.api_client
        return f"<IBMQProvider(hub='{c.hub}', group='{c.group}', project='{c.project}')>"

    # --- backends --------------------------------------------------------------------------

    def _load_backends(self) -> dict[str, IBMQBackend]:
        if self._backends is None:
            try:
                configs = self.api_client.list_backends()
            except ApiError as err:
                raise IBMQBackendApiError(f"Failed to list the backends: {err}") from err
            backends: dict[str, IBMQBackend] = {}
            for config in configs:
                name = config.get("backend_name") if isinstance(config, dict) else None
                if not isinstance(name, str):
                    warnings.warn(f"Skipping a backend with an invalid configuration: "
                                  f"{config!r:.200}", stacklevel=3)
                    continue
                backends[name] = IBMQBackend(config, self)
            self._backends = backends
        return self._backends

    @property
    def backends(self) -> IBMQBackendService:
        """The backend service: call it for the backends (``provider.backends()``), or use
        it as upstream's ``provider.backends.jobs(...)``, ``.retrieve_job(id)``, ``.<name>``."""
        return IBMQBackendService(self)

    @property
    def backend(self) -> IBMQBackendService:
        """``backends`` under the name qiskit-ibmq-provider 0.20 gives it."""
        return IBMQBackendService(self)

    def get_backend(self, name: str) -> IBMQBackend:
        """The backend called ``name``; IBMQBackendError if there is none."""
        found = self._load_backends().get(name)
        if found is None:
            raise IBMQBackendError(
                f"No backend matches the name {name!r}. Available: "
                + (", ".join(self._load_backends()) or "none") + ".")
        return found

    def _backend_for(self, doc: dict[str, Any]) -> Any:
        backend = doc.get("backend") if isinstance(doc, dict) else None
        name = backend.get("name") if isinstance(backend, dict) else None
        if not isinstance(name, str):
            return None
        try:
            served = self._load_backends().get(name)
        except IBMQBackendApiError:
            return None  # the job still works; its backend() is a name-only stand-in
        # A name the provider no longer serves: retired, as upstream builds it (reference §3.4).
        return served if served is not None else IBMQRetiredBackend(name, self)

    # --- jobs -------------------------------------------------------------------------------

    def _job_from_doc(self, doc: dict[str, Any], listed: bool = False) -> IBMQJob:
        return IBMQJob.from_server(doc, backend=self._backend_for(doc),
                                   api_client=self.api_client, listed=listed)

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        status: Any = None,
        job_name: str | None = None,
        start_datetime: datetime | str | None = None,
        end_datetime: datetime | str | None = None,
        job_tags: list[str] | None = None,
        job_tags_operator: str = "OR",
        descending: bool = True,
        db_filter: dict[str, Any] | None = None,
        experiment_id: str | None = None,
    ) -> list[IBMQJob]:
        """Jobs on the server that match every filter, newest first (``limit=None``: all).

        Filters as ``IBMQBackend.jobs()`` of 0.11.1 (reference §6): ``status`` a JobStatus,
        its name or a list; ``job_name`` a regex (partial match); dates in local time
        (naive means local); ``job_tags`` with ``job_tags_operator`` "OR" (any) or "AND"
        (all); ``db_filter`` a raw LoopBack ``where``; ``experiment_id`` the jobs run with
        it (0.20's filter). Raises ``IBMQBackendValueError`` on bad
        values and ``IBMQBackendApiError`` on server trouble. Documents that do not form a
        job are skipped with a warning.
        """
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise IBMQBackendValueError(f'"{limit}" is not a valid limit value: use an int >= 0 or None.')
        if not isinstance(skip, int) or skip < 0:
            raise IBMQBackendValueError(f'"{skip}" is not a valid skip value: use an int >= 0.')
        where = build_where(backend_name, status, job_name, start_datetime, end_datetime,
                            job_tags, job_tags_operator, db_filter, experiment_id)
        out: list[IBMQJob] = []
        try:
            for doc in iter_pages(self.api_client, where, descending, limit, skip):
                try:
                    out.append(self._job_from_doc(doc, listed=True))
                except (JobValidationError, TypeError, ValueError) as err:
                    warnings.warn(f"Discarding a job the server listed with invalid data: {err}",
                                  stacklevel=2)
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to list jobs: {err}") from err
        return out

    def iter_job_docs(
        self,
        where: dict[str, Any] | None = None,
        descending: bool = True,
        page_size: int = 1000,
        limit: int | None = None,
        full: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Raw job documents matching a LoopBack ``where``, keyset-paged.

        List-shaped by default; ``full=True`` gives the documents of ``GET J/v/1``.
        Raises ``IBMQBackendApiError`` (an ``IBMQError``) when the server fails for good.
        """
        try:
            yield from iter_pages(self.api_client, where, descending, limit, 0, page_size, full)
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to list jobs: {err}") from err

    def retrieve_job(self, job_id: str) -> IBMQJob:
        """The job with that id, read in full from the server."""
        try:
            doc = self.api_client.job_get(job_id)
        except ApiError as err:
            hint = ""
            if getattr(err, "error_code", None) == JOB_NOT_FOUND_CODE:
                c = self.api_client
                hint = (f" No such job in {c.hub}/{c.group}/{c.project}: check the job id, or "
                        "connect() to the hub/group/project the job ran in.")
            raise IBMQBackendApiError(f"Failed to get job {job_id}: {err}{hint}") from err
        try:
            return self._job_from_doc(doc)
        except (JobValidationError, TypeError, ValueError) as err:
            raise IBMQBackendApiProtocolError(
                f"Failed to get job {job_id}. Unable to read the server's data: {err}") from err


class IBMQBackendService:
    """``provider.backends``, as qiskit-ibmq-provider's backend service: callable for the
    backends, with the provider's ``jobs`` and ``retrieve_job``, and each backend as an
    attribute (``provider.backends.ibmq_lima``)."""

    def __init__(self, provider: IBMQProvider):
        self._provider = provider
        self.jobs = provider.jobs
        self.retrieve_job = provider.retrieve_job

    def __call__(self, name: str | None = None,
                 filters: Callable[[IBMQBackend], bool] | None = None,
                 **kwargs: Any) -> list[IBMQBackend]:
        """The provider's backends, optionally only the one called ``name``.

        As upstream: a keyword every configuration has compares its field (``simulator=
        False``), any other an attribute of the backend's ``status()`` (``operational=True``);
        ``filters`` is a predicate on the backend.
        """
        out = list(self._provider._load_backends().values())
        if name is not None:
            out = [b for b in out if b.name() == name]
        config = {k: v for k, v in kwargs.items()
                  if all(k in b.configuration() for b in out)}
        for key, value in config.items():
            out = [b for b in out if b.configuration().get(key) == value]
        status = {k: v for k, v in kwargs.items() if k not in config}
        if status:
            out = [b for b in out if all(getattr(b.status(), k, None) == v
                                         for k, v in status.items())]
        return [b for b in out if filters(b)] if filters is not None else out

    def __getattr__(self, name: str) -> IBMQBackend:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._provider.get_backend(name)
        except IBMQBackendError as err:  # hasattr() and getattr(..., default) work
            raise AttributeError(str(err)) from None

    def __dir__(self) -> list[str]:
        try:  # tab completion must not fail on a server that cannot list its backends now
            names = set(self._provider._load_backends())
        except IBMQBackendApiError:
            names = set()
        return sorted(set(super().__dir__()) | names)

    def __repr__(self) -> str:
        return f"<IBMQBackendService for {self._provider!r}>"


class IBMQBackend:
    """A backend of a provider: configuration, properties, status, run and jobs."""

    def __init__(self, configuration: dict[str, Any], provider: IBMQProvider):
        self._configuration = configuration
        self._provider = provider
        self._api_client = provider.api_client

    def name(self) -> str:
        """The backend's name."""
        return self._configuration["backend_name"]

    def provider(self) -> IBMQProvider:
        """The provider the backend belongs to."""
        return self._provider

    def configuration(self) -> dict[str, Any]:
        """The backend configuration, as the server sent it."""
        return copy.deepcopy(self._configuration)

    def __repr__(self) -> str:
        c = self._api_client
        return (f"<IBMQBackend('{self.name()}') from IBMQ(hub='{c.hub}', group='{c.group}', "
                f"project='{c.project}')>")

    def properties(self, refresh: bool = False,
                   datetime: datetime | None = None) -> dict[str, Any] | None:  # noqa: A002
        """The backend's properties dict (or those in force before ``datetime``); None if none.

        Upstream's signature; ``refresh`` is accepted for its callers: nothing is cached, every
        call asks the server.
        """
        if not isinstance(refresh, bool):
            raise IBMQBackendValueError(
                f"refresh must be True or False, not {refresh!r}: pass a date as "
                "properties(datetime=...).")
        if datetime is not None and datetime.tzinfo is None:
            datetime = datetime.astimezone()
        try:
            props = self._api_client.backend_properties(self.name(), datetime)
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to get the properties of {self.name()}: {err}") from err
        return props or None

    def defaults(self, refresh: bool = False) -> dict[str, Any] | None:
        """Pulse defaults, or None for a backend without them (``refresh``, upstream's, is
        accepted: nothing is cached)."""
        if not self._configuration.get("open_pulse"):
            return None
        try:
            return self._api_client.backend_pulse_defaults(self.name()) or None
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to get the defaults of {self.name()}: {err}") from err

    def status(self) -> BackendStatus:
        """Operational flag, queue length and status message."""
        try:
            raw = self._api_client.backend_status(self.name())
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to get the status of {self.name()}: {err}") from err
        try:
            return BackendStatus(
                backend_name=self.name(),
                backend_version=str(raw.get("backend_version", "0.0.0")),
                operational=bool(raw.get("state")),
                pending_jobs=max(int(raw.get("lengthQueue") or 0), 0),
                status_msg=str(raw.get("status", "")),
                dedicated=bool(raw.get("busy", False)),
            )
        except (TypeError, ValueError) as err:
            raise IBMQBackendApiProtocolError(
                f"Unexpected status of {self.name()} from the server: {raw!r:.200}") from err

    def job_limit(self) -> BackendJobLimit:
        """How many jobs this account may have active on the backend, and has (upstream's
        BackendJobLimit; ``maximum_jobs`` None: no limit)."""
        try:
            raw = self._api_client.backend_job_limit(self.name())
        except ApiError as err:
            raise IBMQBackendApiError(f"Failed to get the job limit of {self.name()}: {err}") from err
        maximum, active = raw.get("maximumJobs"), raw.get("runningJobs")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (maximum, active)):
            raise IBMQBackendApiProtocolError(
                f"Unexpected job limit of {self.name()} from the server: {raw!r:.200}")
        return BackendJobLimit(None if maximum < 0 else maximum, active)

    def remaining_jobs_count(self) -> int | None:
        """How many more jobs may be submitted to the backend now (None: no limit)."""
        limit = self.job_limit()
        if limit.maximum_jobs is None:
            return None
        return max(limit.maximum_jobs - limit.active_jobs, 0)

    def run(
        self,
        qobj: dict[str, Any],
        job_name: str | None = None,
        job_tags: list[str] | None = None,
        job_share_level: str | None = None,
        experiment_id: str | None = None,
    ) -> IBMQJob:
        """Submit a qobj (a plain dict, or anything with ``to_dict()``); returns the live job.

        ``experiment_id`` is recorded with the job (the server's ``experimentTag``, as 0.20
        sends it) and found again with ``jobs(experiment_id=...)``.
        """
        if hasattr(qobj, "to_dict") and not isinstance(qobj, dict):
            qobj = qobj.to_dict()
        if not isinstance(qobj, dict):
            raise IBMQBackendValueError(
                f"A qobj dict is required, not {type(qobj).__name__}.")
        if job_name is not None and not isinstance(job_name, str):
            raise IBMQBackendValueError(
                f'"{job_name}" of type "{type(job_name)}" is not a valid job name. '
                "The job name needs to be a string.")
        validate_tags(job_tags, IBMQBackendValueError)
        if experiment_id is not None:
            _experiment_id(experiment_id)
        # As upstream: any case, and an empty level is none (scripts written for it pass these).
        share_level = job_share_level or "none"
        if isinstance(share_level, str):
            share_level = share_level.lower()
        if share_level not in SHARE_LEVELS:
            raise IBMQBackendValueError(
                f'"{job_share_level}" is not a valid job share level. Valid job share levels '
                "are: " + ", ".join(SHARE_LEVELS))
        try:
            doc = self._api_client.submit_job(self.name(), qobj, job_name, job_tags or None,
                                              share_level, experiment_id)
        except QobjEncodingError as err:
            raise IBMQBackendValueError(str(err)) from err
        except RequestsApiError as err:
            if err.error_code == 3458:
                raise IBMQBackendJobLimitError(f"Error submitting job: {err}") from err
            raise IBMQBackendApiError(f"Error submitting job: {err}") from err
        except ApiError as err:
            raise IBMQBackendApiError(f"Error submitting job: {err}") from err
        if isinstance(doc, dict) and "error" in doc and doc.get("error"):
            raise IBMQBackendError(f"Error submitting job: {doc['error']}")
        try:
            return IBMQJob.from_server(doc, backend=self, api_client=self._api_client)
        except (JobValidationError, TypeError, ValueError) as err:
            raise IBMQBackendApiProtocolError(
                f"Unexpected return value received from the server when submitting job: {err}"
            ) from err

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        status: Any = None,
        job_name: str | None = None,
        start_datetime: datetime | str | None = None,
        end_datetime: datetime | str | None = None,
        job_tags: list[str] | None = None,
        job_tags_operator: str = "OR",
        descending: bool = True,
        db_filter: dict[str, Any] | None = None,
        experiment_id: str | None = None,
    ) -> list[IBMQJob]:
        """``provider.jobs(...)`` restricted to this backend."""
        return self._provider.jobs(
            limit=limit, skip=skip, backend_name=self.name(), status=status, job_name=job_name,
            start_datetime=start_datetime, end_datetime=end_datetime, job_tags=job_tags,
            job_tags_operator=job_tags_operator, descending=descending, db_filter=db_filter,
            experiment_id=experiment_id)

    def active_jobs(self, limit: int = 10) -> list[IBMQJob]:
        """This backend's jobs that are not final yet."""
        return self.jobs(limit=limit, status=list(ACTIVE_STATUSES))

    def retrieve_job(self, job_id: str) -> IBMQJob:
        """The job with that id; IBMQBackendError if it ran on another backend."""
        job = self._provider.retrieve_job(job_id)
        other = job.backend().name()
        if other != self.name():
            warnings.warn(f"Job {job_id} belongs to another backend than the one queried. "
                          f"The query was made on backend {self.name()}, but the job actually "
                          f"belongs to backend {other}.", stacklevel=2)
            raise IBMQBackendError(
                f"Failed to get job {job_id}: job does not belong to backend {self.name()}.")
        return job


def least_busy(backends: list[IBMQBackend]) -> IBMQBackend:
    """The operational backend with the fewest jobs in its queue, as qiskit-ibmq-provider's
    ``least_busy`` picks it (one status request per backend)."""
    statuses = [(b, b.status()) for b in backends]
    ready = [(b, s) for b, s in statuses if s.operational]
    if not ready:
        raise IBMQError(
            "Unable to find the least_busy backend from an empty list"
            + (" (none of the given backends is operational)." if backends else "."))
    return min(ready, key=lambda pair: pair[1].pending_jobs)[0]


class IBMQRetiredBackend(IBMQBackend):
    """The backend of a job whose backend the provider no longer serves (a retired device):
    its jobs can still be listed and retrieved; it has no properties and takes no jobs."""

    NO_LONGER = "This backend is no longer available."

    def __init__(self, name: str, provider: IBMQProvider):
        super().__init__({"backend_name": name, "backend_version": "0.0.0"}, provider)

    def properties(self, refresh: bool = False,
                   datetime: datetime | None = None) -> None:  # noqa: A002
        """None: a retired backend has no properties."""
        return None

    def defaults(self, refresh: bool = False) -> None:
        """None: a retired backend has no pulse defaults."""
        return None

    def status(self) -> BackendStatus:
        """Not operational, as upstream's retired backend reports."""
        return BackendStatus(backend_name=self.name(), backend_version="0.0.0",
                             operational=False, pending_jobs=0, status_msg=self.NO_LONGER)

    def job_limit(self) -> BackendJobLimit:
        """Raises IBMQBackendError: a retired backend takes no jobs."""
        raise IBMQBackendError(f"{self.NO_LONGER} ({self.name()})")

    def remaining_jobs_count(self) -> int | None:
        """Raises IBMQBackendError: a retired backend takes no jobs."""
        raise IBMQBackendError(f"{self.NO_LONGER} ({self.name()})")

    def run(self, *args: Any, **kwargs: Any) -> IBMQJob:
        """Raises IBMQBackendError: a retired backend takes no jobs."""
        raise IBMQBackendError(
            f"{self.NO_LONGER} ({self.name()}): run the job on one of provider.backends().")


__all__ = ["BackendJobLimit", "BackendStatus", "IBMQBackend", "IBMQBackendService",
           "IBMQProvider", "IBMQRetiredBackend", "build_where", "connect", "iter_pages",
           "least_busy"]
