"""The ``jobarchive`` command line: a thin click layer over the library.

Every command maps to one library call; this module only parses arguments, resolves
credentials and formats output. Errors become one line on stderr and a non-zero exit
code (1: error, 2: usage, 3: the command ran and found problems), never a traceback;
set ``JOBARCHIVE_DEBUG=1`` to see the traceback of an unexpected error. Ctrl-C prints one
line and ends the process by SIGINT (a shell's 130).
"""

from __future__ import annotations

import configparser
import errno
import itertools
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from .exceptions import BlobIntegrityError, IBMQError, IndexIntegrityError, JobNotFoundError

DEFAULT_ARCHIVE = "jobs.jobarchive"
DEFAULT_URL = "https://auth.quantum-computing.ibm.com/api"
QISKITRC = Path(".qiskit") / "qiskitrc"
EXIT_PROBLEMS = 3
EXIT_INTERRUPTED = 128 + 2  # 128 + SIGINT, as a shell reports a Ctrl-C
TABLE_COLUMNS = ("job_id", "creation_date", "backend_name", "status", "name", "tags")
LIST_COLUMNS = frozenset({"tags"})  # of the frames written as Parquet: lists of str
SHARE_LEVELS = ("global", "hub", "group", "project", "none")
MAX_INT = 2**63 - 1  # SQLite's integer range


# --- errors ------------------------------------------------------------------------------


def mask(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` on one line, with any secret masked (as the API client scrubs them)."""
    from .api import MIN_SECRET

    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            text = text.replace(secret, "***")
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def one_line(err: BaseException, secrets: Sequence[str] = ()) -> str:
    """A single-line description of an error, with any secret masked."""
    if isinstance(err, IBMQError):
        text = str(err)
    elif isinstance(err, KeyError) and err.args:
        text = f"not found: {err.args[0]}"
    elif isinstance(err, OSError) and err.strerror:
        text = f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    else:
        text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return mask(text, secrets) or type(err).__name__


class _Group(click.Group):
    """Turns every error escaping a command into one line and exit code 1, and every
    warning into one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                # Python prints a warning with the path, line number and source line of the
                # call that raised it: internals that tell a user nothing.
                warnings.showwarning = lambda message, *_args, **_kw: _warn(ctx, message)
                return super().invoke(ctx)
        except click.exceptions.NoSuchOption as err:
            if err.option_name == "--archive" and ctx.invoked_subcommand:  # a common slip
                err.message = (f"--archive goes before the command: jobarchive --archive PATH "
                               f"{ctx.invoked_subcommand} ..."
                               + ("" if ctx.invoked_subcommand == "demo" else " (or set JOBARCHIVE_PATH)"))
            elif err.option_name in ("-q", "--quiet") and ctx.invoked_subcommand:
                err.message = (f"{err.option_name} goes before the command: jobarchive "
                               f"{err.option_name} {ctx.invoked_subcommand} ...")
            raise
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            interrupted = click.ClickException(_interrupted(ctx))
            interrupted.exit_code = EXIT_INTERRUPTED
            raise interrupted from None
        except OSError as err:
            if err.errno == errno.EPIPE or os.environ.get("JOBARCHIVE_DEBUG"):
                raise
            raise click.ClickException(one_line(err, _secrets(ctx))) from None
        except Exception as err:
            if os.environ.get("JOBARCHIVE_DEBUG"):
                raise
            from .exceptions import ArchiveLockedError

            # Archive.lock()'s text names the library's option; the other lock errors (an
            # opener stuck creating or upgrading the archive) name their own cause and fix.
            if isinstance(err, ArchiveLockedError) and "holds its write lock" in str(err):
                raise click.ClickException(
                    f"{_archive_path(ctx)} is busy: another sync or retag holds its write "
                    "lock; wait for it to finish, or pass --wait to queue behind it") from None
            text = one_line(err, _secrets(ctx))
            if isinstance(err, ArchiveLockedError):
                text = _cli_lock_advice(text)
            raise click.ClickException(text) from None


def _cli_lock_advice(text: str) -> str:
    """The library's advice on a lock that stayed held, for the command line: it names
    Archive's busy_timeout, which no option of the CLI sets (it waits 30 s)."""
    import shlex

    text = text.replace("; or open it with a longer busy_timeout.", ".")
    found = re.match(r"(.*?) stayed locked by another writer", text)
    if found:
        text = text.replace(
            ", or open the archive with a longer busy_timeout.",
            f", then run the command again (`fuser -v {shlex.quote(found.group(1))}` lists the processes "
            "using it).")
    return text


def _warn(ctx: click.Context, message: Warning | str) -> None:
    try:
        click.echo(f"Warning: {mask(str(message), _secrets(ctx))}", err=True)
    except OSError:  # stderr gone (a closed pipe): as Python's own display, never an error
        pass


# Commands whose interrupted work a re-run finishes (sync's cursor, retag's journal).
_RESUMABLE = ("sync", "retag")


def _interrupted(ctx: click.Context) -> str:
    """The one line for Ctrl-C: what state things are in and what to do."""
    if ctx.invoked_subcommand in _RESUMABLE:
        return (f"interrupted: what was written is intact, but the {ctx.invoked_subcommand} "
                "may be partly done; run the same command again to finish it (no change is "
                "sent to the server twice)")
    return "interrupted"


def _secrets(ctx: click.Context) -> list[str]:
    obj = ctx.find_root().obj
    return list(obj.get("secrets", [])) if isinstance(obj, dict) else []


def _echo(text: str, nl: bool = True, err: bool = False) -> bool:
    """``click.echo``; False once the stream's reader has gone. A reader that stops early
    (`| head -1`, `2>&1 | head -1`) ends the output, not the command: it runs to its end and
    exits with its own code (3 for an audit's problems), not click's 1 for a broken pipe,
    which a wrapper with `set -o pipefail` took for a failure."""
    try:
        click.echo(text, nl=nl, err=err)
        return True
    except OSError as ex:
        if ex.errno != errno.EPIPE:
            raise
        # The rest of the output, and what the stream's buffer still holds, go nowhere: a
        # flush into the closed pipe at exit would print Python's "Exception ignored" lines.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if err else sys.stdout).fileno())
        os.close(devnull)
        return False


def _say(text: str, err: bool = False) -> None:
    """``_echo`` of a line that only says things went well (a summary, where output went,
    a hint): left out under --quiet, so that cron, which mails every line, mails a run
    only when it has something to say."""
    if not _quiet():
        _echo(text, err=err)


def _quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return isinstance(obj, dict) and bool(obj.get("quiet"))


# --- shared state and options ------------------------------------------------------------


def _archive_path(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["archive"])


def _refuse_foreign_directory(path: Path) -> None:
    """Creating an archive puts index.db and blobs/ into the directory: not into one that
    holds other things (`--archive .` in a project, `init ~/Documents`), nor over a file:
    said before sync sends the token anywhere (unreachable, it blamed the network)."""
    if path.exists() and not path.is_dir():
        raise click.ClickException(f"{path} is a file, not an archive directory; pass the "
                                   "directory path.")
    if path.is_dir() and not (path / "index.db").exists() and any(path.iterdir()):
        raise click.ClickException(
            f"{path} is a non-empty directory that is not an archive; an archive is a "
            "directory of its own: pass a new path (e.g. lab.jobarchive)")


def _refuse_inside_archive(arc: Any, path: str | Path | None) -> None:
    """Output goes outside the archive: files in its blobs/ are orphan blobs to `audit`,
    whose --repair removed an export written there."""
    if path is None:
        return
    root, target = Path(arc.path).resolve(), Path(path).resolve()
    if target == root or root in target.parents:
        raise click.ClickException(
            f"{path} is inside the archive {arc.path}; write it outside the archive (`audit "
            "--repair` removes files in blobs/ as orphan blobs)")


def open_archive(ctx: click.Context, create: bool = False) -> Any:
    """The --archive archive; a read command never creates one."""
    from .archive import Archive
    from .demo import DEFAULT_ARCHIVE as DEMO_ARCHIVE

    path = _archive_path(ctx)
    if create:
        _refuse_foreign_directory(path)
    elif path.is_dir() and not (path / "index.db").exists() and any(path.iterdir()):
        # The folder that holds the archive, most often: the library's advice to
        # `jobarchive init` it would be refused (a non-empty directory).
        inside = sorted(str(p.parent) for p in itertools.islice(path.glob("*/index.db"), 100))
        raise click.ClickException(
            f"{path} is a directory, not an archive (no index.db in it); "
            + (f"the archive in it: --archive {inside[0]}" if len(inside) == 1 else
               f"archives in it: {', '.join(inside[:5])}" if inside else
               "pass the archive's directory (e.g. lab.jobarchive)"))
    elif str(path) == DEFAULT_ARCHIVE and not (path / "index.db").exists() \
            and (Path(DEMO_ARCHIVE) / "index.db").is_file():
        # No archive chosen, right after `jobarchive demo` (whose archive is another).
        raise click.ClickException(
            f"No archive at {path}. The demo's archive is {DEMO_ARCHIVE}: jobarchive --archive "
            f"{DEMO_ARCHIVE} {ctx.info_name} ... (or set JOBARCHIVE_PATH={DEMO_ARCHIVE})")
    arc = Archive(path, create=create)
    ctx.call_on_close(arc.close)
    return arc


def _qiskitrc() -> dict[str, str]:
    try:
        path = Path.home() / QISKITRC
    except RuntimeError:  # no $HOME and no passwd entry (a service's numeric user): none
        return {}
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as err:
        raise click.ClickException(f"cannot read {path}: {one_line(err)}") from None
    return dict(parser["ibmq"]) if parser.has_section("ibmq") else {}


def resolve_credentials(url: str | None, token: str | None) -> tuple[str, str]:
    """URL and token from options, environment, or ~/.qiskit/qiskitrc (in that order)."""
    rc: dict[str, str] | None = None
    token = _first(token, os.environ.get("JOBARCHIVE_TOKEN"), os.environ.get("QE_TOKEN"))
    if not token:
        rc = _qiskitrc()
        token = _first(rc.get("token"))
    if not token:
        raise click.UsageError(
            "no API token: pass --token, set JOBARCHIVE_TOKEN or QE_TOKEN, or save one in "
            "~/.qiskit/qiskitrc ([ibmq] token = ...)")
    url = _first(url, os.environ.get("JOBARCHIVE_URL"), os.environ.get("QE_URL"))
    if not url:
        url = _first((rc if rc is not None else _qiskitrc()).get("url")) or DEFAULT_URL
    return url, token


def _first(*values: str | None) -> str | None:
    """The first value set, without the whitespace around it: a token pasted with a space
    or a line end was sent so and refused (a new one pasted the same way too), and a URL
    became .../api%20/version."""
    return next((v.strip() for v in values if v and v.strip()), None)


def _token_source(option: str | None) -> str:
    """Where ``resolve_credentials`` took the token from."""
    if _first(option):
        return "--token"
    for var in ("JOBARCHIVE_TOKEN", "QE_TOKEN"):
        if _first(os.environ.get(var)):
            return f"${var}"
    return f"~/{QISKITRC}"


def _synced_server(ctx: click.Context, server: dict[str, Any], arc: Any = None,
                   say_on_stdout: bool = False) -> dict[str, Any]:
    """``server`` with the archive's own server as the default URL.

    Without --url (or JOBARCHIVE_URL/QE_URL), a command on an archive goes where the
    archive's last sync went (and to its hub/group/project unless one is given), not to
    IBM's URL: a token must never be sent to a server the user did not choose. A token
    from ~/.qiskit/qiskitrc goes with that file's URL (or IBM's): if the archive's server
    is another, --url is asked for. So it is when an archive synced by an older version
    names a server other than IBM's in its cursors (its only record of the server).
    """
    if server["url"] or os.environ.get("JOBARCHIVE_URL") or os.environ.get("QE_URL"):
        return server
    from .sync import last_server, servers_seen

    if arc is None:
        path = _archive_path(ctx)
        if not (path / "index.db").is_file():
            return server
        from .archive import Archive

        with Archive(path, create=False) as opened:
            last, seen = last_server(opened), servers_seen(opened)
    else:
        last, seen = last_server(arc), servers_seen(arc)
    chosen = bool(server["token"] or os.environ.get("JOBARCHIVE_TOKEN")
                  or os.environ.get("QE_TOKEN"))  # else the token comes from qiskitrc
    if not chosen and not _qiskitrc().get("token"):
        return server  # no token anywhere: resolve_credentials says so
    rc_url = None if chosen else (_qiskitrc().get("url") or None)
    if last is not None:
        if not chosen and not _same_url(rc_url or DEFAULT_URL, last["url"]):
            raise click.UsageError(
                f"this archive was last synced from {last['url']}, but the token of "
                f"~/.qiskit/qiskitrc is for {rc_url or DEFAULT_URL}: pass --url (and --token) "
                "to say which server gets which token")
        out = {**server, "url": last["url"]}
        if not any(server[k] for k in ("hub", "group", "project")):
            out.update({k: last[k] for k in ("hub", "group", "project")})
        # Where the token goes, said before it goes there; on stderr it made cron mail
        # every successful `sync >/dev/null` (sync's stdout is its report, which it joins).
        _say(f"server: {last['url']} (this archive's last sync; --url chooses another)",
             err=not say_on_stdout)
        return out
    others = [u for u in seen if not _is_ibm(u)]
    if others and not rc_url:
        raise click.UsageError(
            f"this archive was synced from {others[0]}, not from {DEFAULT_URL}: pass --url "
            "(or set JOBARCHIVE_URL) to say which server gets your token")
    return server


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def _is_ibm(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host == "quantum-computing.ibm.com" or host.endswith(".quantum-computing.ibm.com")


def connect_from_options(ctx: click.Context, server: dict[str, Any], arc: Any = None,
                         say_on_stdout: bool = False) -> Any:
    """A provider for the resolved credentials; the token is only kept in memory. Without a
    URL given, the archive's last sync's server is used and named (on stderr, or on stdout
    with ``say_on_stdout``: see ``_synced_server``)."""
    from .provider import connect

    server = _synced_server(ctx, server, arc, say_on_stdout)
    url, token = resolve_credentials(server["url"], server["token"])
    ctx.find_root().obj.setdefault("secrets", []).append(token)
    extra: dict[str, Any] = {}
    if server["max_retries"] is not None:
        extra["max_retries"] = server["max_retries"]
    if server["timeout"] is not None:
        extra["timeout"] = server["timeout"]
    from .exceptions import IBMQAccountCredentialsInvalidToken, IBMQAccountCredentialsInvalidUrl

    try:
        return connect(url, token, hub=server["hub"], group=server["group"],
                       project=server["project"], **extra)
    except IBMQAccountCredentialsInvalidToken as err:
        # The first of four places that holds one wins: a new token saved in another (a
        # stale QE_TOKEN in cron's environment, a new one in qiskitrc) changes nothing.
        source = _token_source(server["token"])
        fix = ("pass the account's current API token" if source == "--token" else
               "put the account's current API token there, or pass --token (which "
               "comes before $JOBARCHIVE_TOKEN, $QE_TOKEN and ~/.qiskit/qiskitrc)")
        raise click.ClickException(
            f"{one_line(err, [token])} The token came from {source}: {fix}") from None
    except IBMQAccountCredentialsInvalidUrl as err:
        cause = err.__cause__
        if getattr(cause, "status_code", None) not in (-1, None) or cause is None:
            raise
        tls = re.search(r"\[SSL: (\w+)\] ([^'\")(]+)", str(cause))
        if tls:  # the server did answer: "is the server up?" sent users to check the network
            fix = _TLS_FIXES.get(tls.group(1), "check the URL's scheme and port")
            raise click.ClickException(
                f"TLS with {url} failed ({tls.group(2).strip()}): {fix}") from None
        # No answer at all (refused, unknown host, timeout): the URL may well be right,
        # "not an IBM Quantum authentication URL" sent users to fix the wrong thing.
        found = re.search(r"\[Errno -?\d+\] ([^'\")]+)|(timed out)", str(cause))
        reason = (found.group(1) or found.group(2)).strip() if found else "no answer"
        raise click.ClickException(
            f"cannot reach {url} ({reason}): is the server up and the network there? The URL "
            "comes from --url, JOBARCHIVE_URL/QE_URL, the archive's last sync or "
            "~/.qiskit/qiskitrc") from None


_NOT_TLS = "the server does not speak HTTPS at that port: is its URL http://...?"
_TLS_FIXES = {
    "WRONG_VERSION_NUMBER": _NOT_TLS,
    "RECORD_LAYER_FAILURE": _NOT_TLS,
    "CERTIFICATE_VERIFY_FAILED": "its certificate is not one this machine trusts (a "
                                 "self-signed server, or a proxy that inspects TLS): set "
                                 "REQUESTS_CA_BUNDLE to the file of the CA that signed it",
}
_SERVER_KEYS = ("url", "token", "hub", "group", "project", "max_retries", "timeout")


def _pop_server(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in _SERVER_KEYS}


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--url/--token/--hub/--group/--project."""
    for decorator in reversed([
        click.option("--url", metavar="URL",
                     help=f"Authentication URL [env JOBARCHIVE_URL, QE_URL; else the server of "
                          f"the archive's last sync, qiskitrc url; default {DEFAULT_URL}]."),
        click.option("--token", metavar="TOKEN",
                     help="API token [env JOBARCHIVE_TOKEN, QE_TOKEN, or ~/.qiskit/qiskitrc]. "
                          "Never written to the archive."),
        click.option("--hub", default=None,
                     help="Hub (default: the account's default provider, else its first)."),
        click.option("--group", default=None, help="Group."),
        click.option("--project", default=None, help="Project."),
        click.option("--max-retries", type=click.IntRange(0, 20), default=None,
                     help="Retries of a failed request (default 5, with backoff)."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=None,
                     help="Seconds to wait for a server response (default 120; 5 to connect)."),
    ]):
        f = decorator(f)
    return f


# Option values are checked as they are parsed, so a bad one is a usage error (exit 2, one
# line naming the option) whatever the archive holds, before anything is opened or fetched.


def _status_values(ctx: click.Context, param: click.Parameter,
                   values: tuple[str, ...]) -> tuple[str, ...]:
    from .status import API_TO_JOB_STATUS, parse_job_status

    for value in values:
        try:
            parse_job_status(value)
        except ValueError as err:  # upstream's message, with the value escaped onto one line
            message = str(err).replace(f'"{value}"', json.dumps(value), 1)
            if value.upper() in API_TO_JOB_STATUS:
                message += (f". {json.dumps(value)} is a server status (the api_status column):"
                            f" pass --status {API_TO_JOB_STATUS[value.upper()].name}, which "
                            "covers it")
            elif "," in value:
                message += f"; for several, repeat the option: {_repeated('--status', value)}"
            raise click.BadParameter(message) from None
    return values


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuse an empty value: `--backend "$B"` with $B unset matched no job (a tag, a backend)
    or every job (a name), without a word."""
    if value == "" or (isinstance(value, tuple) and "" in value):
        raise click.BadParameter("an empty value (an unset shell variable?); leave the option "
                                 "out to match every job")
    return value


def _regex_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    _not_empty(ctx, param, value)
    if value is not None:
        try:
            re.compile(value)
        except re.error as err:
            raise click.BadParameter(f"{value!r} is not a valid regular expression: {err}") from None
    return value


def _date_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        from .exceptions import QueryValueError
        from .query import to_utc_us

        try:
            to_utc_us(value, "date")
        except QueryValueError:
            raise click.BadParameter(
                f"{value!r} is not an ISO-8601 date (e.g. 2021-03-01 or "
                "2021-03-01T12:00:00+00:00)") from None
    return value


# A date, a time of day to the hour, minute or second (no fraction), and an offset or Z.
_UNTIL_PARTS = re.compile(r"(\d{4}-\d\d-\d\d)(?:[Tt ](\d\d(?::\d\d){0,2}))?([+-]\d\d(?::?\d\d)?|Z)?")
_END_OF_UNIT = {0: ":59:59.999999", 1: ":59.999999", 2: ".999999"}  # by the colons in the time


def _end_of_period(value: str | None) -> str | None:
    """An upper bound includes the whole last unit written: a date alone is the end of that
    day (local time, as the date alone is its local midnight, or at the offset written), so
    "created on or before 2021-03-01" includes the jobs of that day; a time to the second,
    as the tables print dates, is the end of that second (jobs are created at milliseconds:
    the table's "01:58:57 UTC" of a job created at 01:58:57.966 must select it)."""
    from datetime import date

    if value is None:
        return None
    text, zone = value.strip(), ""
    if text[-4:].upper() == " UTC":  # a date as the tables print it: the end of that UTC day
        text, zone = text[:-4].rstrip(), " UTC"
    try:
        return f"{date.fromisoformat(text).isoformat()}T23:59:59.999999{zone}"
    except ValueError:
        pass
    parts = _UNTIL_PARTS.fullmatch(text)
    if not parts:
        return value  # a time with a fraction of a second (or another spelling): as given
    day, clock, offset = parts.groups()
    end = f"{clock}{_END_OF_UNIT[clock.count(':')]}" if clock else "23:59:59.999999"
    return f"{day}T{end}{offset or ''}{zone}"


def _until_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return _end_of_period(_date_value(ctx, param, value))


def _server_until_value(ctx: click.Context, param: click.Parameter,
                        value: str | None) -> str | None:
    try:
        return _server_date_value(ctx, param, _end_of_period(_date_value(ctx, param, value)))
    except click.BadParameter:  # 9999-12-31 west of UTC: its end is in year 10000
        return _server_date_value(ctx, param, value)


def _server_date_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A date that is also a UTC date (years 1 to 9999), as the server filter is written."""
    if _date_value(ctx, param, value) is not None:
        from datetime import UTC, datetime, timedelta

        from .query import to_utc_us

        try:
            datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=to_utc_us(value, "date"))
        except OverflowError:
            raise click.BadParameter(f"{value!r} is outside the years 1 to 9999 in UTC") from None
    return value


def _columns_value(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    columns = _columns_option(value)
    if columns:
        from .query import FRAME_COLUMNS

        unknown = [c for c in columns if c not in FRAME_COLUMNS]
        if unknown:
            raise click.BadParameter(
                f"unknown column {unknown[0]!r}; choose from {', '.join(FRAME_COLUMNS)}")
    return columns


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The filters of Archive.query(), as options."""
    for decorator in reversed([
        click.option("--status", "statuses", multiple=True, metavar="STATUS",
                     callback=_status_values,
                     help="JobStatus name (DONE, ERROR, CANCELLED, RUNNING, QUEUED, ...); repeatable."),
        click.option("--name", "job_name", metavar="REGEX", callback=_regex_value,
                     help="Job name regex (partial match)."),
        click.option("--since", metavar="DATE", callback=_date_value,
                     help="Created on or after (ISO-8601; naive means local time, a trailing "
                          "Z or ' UTC' UTC, as the tables show dates)."),
        click.option("--until", metavar="DATE", callback=_until_value,
                     help="Created on or before (ISO-8601; a date alone includes that day, "
                          "a time to the second that second)."),
        click.option("--tag", "tags", multiple=True, callback=_not_empty, metavar="TAG", help="Job tag; repeatable."),
        click.option("--tags-and/--tags-or", "tags_and", default=False,
                     help="Jobs with all the --tag values, or any of them (default)."),
        click.option("--share-level", "share_levels", multiple=True,
                     type=click.Choice(SHARE_LEVELS, case_sensitive=False),
                     help="Share level; repeatable."),
        click.option("--run-mode", "run_modes", multiple=True, callback=_not_empty, metavar="MODE",
                     help="Run mode (fairshare, dedicated, ...); repeatable."),
        click.option("--backend", "backends", multiple=True, callback=_not_empty, metavar="NAME",
                     help="Backend name; repeatable."),
        click.option("--limit", type=click.IntRange(0, MAX_INT), default=None, metavar="N",
                     help="At most this many jobs (0: no limit)."),
        click.option("--skip", type=click.IntRange(0, MAX_INT), default=0, metavar="N",
                     help="Skip this many jobs."),
        click.option("--ascending", is_flag=True, help="Oldest first (default newest first)."),
    ]):
        f = decorator(f)
    return f


_FILTER_KEYS = ("statuses", "job_name", "since", "until", "tags", "tags_and", "share_levels",
                "run_modes", "backends", "limit", "skip", "ascending")


def query_kwargs(opts: dict[str, Any]) -> dict[str, Any]:
    """filter_options values -> Archive.query() keyword arguments."""
    return {
        "status": list(opts["statuses"]) or None,
        "job_name": opts["job_name"],
        "start_datetime": opts["since"],
        "end_datetime": opts["until"],
        "job_tags": list(opts["tags"]) or None,
        "job_tags_operator": "AND" if opts["tags_and"] else "OR",
        "share_level": list(opts["share_levels"]) or None,
        "run_mode": list(opts["run_modes"]) or None,
        "backend_name": list(opts["backends"]) or None,
        "limit": opts["limit"],
        "skip": opts["skip"],
        "descending": not opts["ascending"],
    }


def run_query(arc: Any, opts: dict[str, Any]) -> Any:
    """Archive.query() of the filter options; a value it refuses is a usage error (exit 2)."""
    from .exceptions import QueryValueError

    try:
        frame = arc.query(**query_kwargs(opts))
    except QueryValueError as err:  # the options are checked as parsed: this is a safety net
        raise click.UsageError(str(err)) from None
    _hint_comma_lists(arc, opts)
    return frame


_LISTED = (("tags", "--tag", "job_tags"), ("backends", "--backend", "backend_name"),
           ("run_modes", "--run-mode", "run_mode"))


def _hint_comma_lists(arc: Any, opts: dict[str, Any]) -> None:
    """`--tag vqe,qaoa` is one tag (a tag may hold a comma), though the table prints a job's
    tags so and --columns takes a comma list: when no job has it, say how to give several
    (it matched nothing, without a word)."""
    for key, option, field in _LISTED:
        for value in opts[key]:
            if "," in value and arc.query(**{field: [value]}, limit=1).empty:
                _echo(f"Warning: no job has the {option[2:]} {value!r}; for several, "
                      f"repeat the option: {_repeated(option, value)}", err=True)


def _repeated(option: str, value: str) -> str:
    import shlex

    return " ".join(f"{option} {shlex.quote(v.strip())}" for v in value.split(",") if v.strip())


def _has_filter(opts: dict[str, Any]) -> bool:
    return any(opts[k] for k in _FILTER_KEYS if k not in ("tags_and", "ascending", "skip")) \
        or bool(opts["skip"])



def _progress_default(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


# --- output ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    import pandas as pd

    if isinstance(value, list | tuple):
        return ",".join(_printable(str(v)) for v in value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):  # strftime's %Y drops the zeros of years < 1000
        # Dates are UTC, and a naive --since/--until is local time: say the zone (the
        # options read a trailing " UTC", so a date copied from here means this instant).
        zone = ""
        if value.tzinfo is not None:
            value, zone = value.tz_convert("UTC"), " UTC"
        return f"{value.year:04d}-{value.strftime('%m-%d %H:%M:%S')}{zone}"
    return _printable(str(value))


def _printable(text: str) -> str:
    # Control characters in names or tags would break the table's lines (or reach the
    # terminal as escape sequences).
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def format_table(frame: Any) -> str:
    """An aligned plain-text table: strings left, numbers right."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    cells = [[_cell(v) for v in frame[c]] for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    widths = [max([len(h)] + [len(x) for x in col]) for h, col in zip(columns, cells, strict=True)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    rows = [line(columns)] + [line(r) for r in zip(*cells, strict=True)] if cells else [line(columns)]
    return "\n".join(rows)


def _to_csv(frame: Any, path: Path | None = None) -> str | None:
    """``frame`` as CSV text (or into ``path``): lists as JSON text and dates as ISO-8601
    UTC, so DuckDB/Spark read them back. pandas quotes only the fields that hold its line
    end "\\n", while every reader also ends a row at a bare "\\r": when a text field holds one,
    every text field is quoted."""
    import csv

    import pandas as pd

    out = frame.copy()
    quoting = csv.QUOTE_MINIMAL
    for name in out.columns:
        col = out[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif col.dtype == object and col.map(lambda v: isinstance(v, list | dict)).any():
            out[name] = col.map(lambda v: json.dumps(v, ensure_ascii=False)
                                if isinstance(v, list | dict) else v)
        elif (isinstance(col.dtype, pd.StringDtype) or col.dtype == object) and \
                col.astype("string").str.contains("\r", regex=False).any():
            quoting = csv.QUOTE_NONNUMERIC
    return out.to_csv(path, index=False, quoting=quoting)


_JSON_CHUNK = 5000  # rows converted at a time: the parsed records cost ~10x their text


def _frame_json(frame: Any) -> str:
    return "".join(_frame_json_parts(frame))


def _frame_json_parts(frame: Any) -> Iterator[str]:
    """The text of ``json.dumps(records, indent=2)``, in pieces of ``_JSON_CHUNK`` rows: the
    whole frame parsed back at once held 430 MB more than the output for 100,000 jobs."""
    if len(frame) == 0:
        yield "[]"
        return
    for start in range(0, len(frame), _JSON_CHUNK):
        part = frame.iloc[start:start + _JSON_CHUNK]
        text = part.to_json(orient="records", date_format="iso", date_unit="us",
                            force_ascii=False)
        try:  # orjson's indent is the stdlib's, at half the time of the whole output
            body = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:  # a number beyond 64 bits
            body = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        # "[\n  {...},\n  {...}\n]": the records of each chunk, joined as one list.
        yield ("[" if start == 0 else ",") + body[1:-2]
    yield "\n]"


def write_frame(frame: Any, fmt: str, output: str | None, columns: Sequence[str] | None = None) -> None:
    """Print or save a DataFrame as table, csv, json or parquet."""
    if columns:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise click.BadParameter(
                f"unknown column {unknown[0]!r}; choose from {', '.join(map(str, frame.columns))}",
                param_hint="--columns")
        frame = frame[list(columns)]
    if fmt == "parquet":
        if not output:
            raise click.UsageError("--format parquet needs --output FILE")
        _replace_whole(Path(output), lambda tmp: _to_parquet(frame, tmp))
        _say(f"wrote {len(frame)} rows to {output}", err=True)
        return
    if fmt == "csv":
        parts: Iterable[str] = [_to_csv(frame) or ""]
    elif fmt == "json":
        parts = itertools.chain(_frame_json_parts(frame), ["\n"])
    else:
        parts = [format_table(frame) + "\n"]
    if output:
        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(parts)

        _replace_whole(Path(output), write)
        _say(f"wrote {len(frame)} rows to {output}", err=True)
    else:
        for text in parts:
            if not _echo(text, nl=False):
                break  # the next chunks of a large listing would be converted for nobody


def _to_parquet(frame: Any, path: str | Path) -> None:
    """``frame.to_parquet``, with list-valued columns typed as lists of strings: pyarrow
    guesses a type from the values, list<null> when no selected job has a tag and null when
    no job is selected, and files so typed cannot be read together with others."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    for name in LIST_COLUMNS.intersection(frame.columns):
        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.list_(pa.string())))
    # Through a Python file: given the path, pyarrow seeks, which /dev/stdout on a pipe
    # and a FIFO refuse ("lseek failed"); written in order, Parquet needs no seek.
    with open(path, "wb") as fh:
        frame.to_parquet(fh, index=False, schema=schema)


def _columns_option(value: str | None) -> list[str] | None:
    # A column named twice once: JSON and Parquet cannot hold two columns of one name.
    return list(dict.fromkeys(c.strip() for c in value.split(",") if c.strip())) if value else None


def _tag_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not value.strip():
            raise click.BadParameter("a tag cannot be empty or blank")
    return values


FORMAT = click.Choice(["table", "csv", "json", "parquet"])
_SKIP_DAMAGED_HELP = ("Leave out the counts of jobs whose blob file is missing or damaged "
                      "(listed on stderr; exit 3) instead of failing.")


# --- the group ---------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100},
             epilog="\b\nExamples:\n  jobarchive demo\n  jobarchive --archive lab.jobarchive sync"
                    "\n  jobarchive ls --status DONE --tag vqe --since 2021-01-01"
                    "\n\nExit codes: 0 ok; 1 error; 2 usage error; 3 the command ran and found "
                    "problems (audit findings, jobs a sync or retag could not do, damaged blobs "
                    "left out); 130 interrupted (Ctrl-C).")
@click.option("--archive", "archive", metavar="PATH", envvar="JOBARCHIVE_PATH",
              default=DEFAULT_ARCHIVE, show_default=True,
              help="Archive directory [env JOBARCHIVE_PATH].")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only what was asked for (listings, JSON), warnings and errors: no "
                   "summary of a run that went well (cron mails every line).")
@click.version_option(package_name="jobarchive")
@click.pass_context
def cli(ctx: click.Context, archive: str, quiet: bool) -> None:
    """A persistent, queryable archive of IBM Quantum jobs."""
    if not archive or "\x00" in archive:
        raise click.BadParameter("not a valid path", param_hint="--archive")
    if ctx.get_parameter_source("archive") == click.core.ParameterSource.ENVIRONMENT:
        # Set without a shell (a crontab line, systemd's Environment=), `~/lab.jobarchive`
        # and `$HOME/...` arrive as typed: a sync made a new archive in a directory "~".
        archive = os.path.expanduser(os.path.expandvars(archive))
    ctx.obj = {"archive": archive, "archive_given": _given(ctx, "archive"), "quiet": quiet}


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


@cli.command(epilog="\b\nExamples:\n  jobarchive init lab.jobarchive\n  jobarchive --archive lab.jobarchive init")
@click.argument("path", required=False, metavar="[PATH]")
@click.pass_context
def init(ctx: click.Context, path: str | None) -> None:
    """Create an empty archive at PATH (default: --archive)."""
    from .archive import Archive

    target = Path(path) if path else _archive_path(ctx)
    _refuse_foreign_directory(target)
    existed = (target / "index.db").exists()
    with Archive(target) as arc:
        if existed:
            _say(f"{target}: already an archive ({len(arc)} jobs)")
        else:
            _say(f"{target}: created an empty archive")


@cli.command(epilog="\b\nExamples:\n  export QE_TOKEN=...; jobarchive sync"
                    "\n  jobarchive sync --url http://127.0.0.1:8080/api --token T --follow"
                    "\n  jobarchive sync --backend ibmq_athens --since 2021-01-01 --full")
@server_options
@click.option("--follow", is_flag=True, help="Keep polling until no archived job is still running.")
@click.option("--poll-interval", type=click.FloatRange(min=0.0), default=10.0, show_default=True,
              help="Seconds between passes with --follow.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Concurrent requests.")
@click.option("--full", is_flag=True, help="Also compare names and tags of every listed job.")
@click.option("--backend", "backend_name", callback=_not_empty, metavar="NAME", help="Only this backend's jobs.")
@click.option("--since", metavar="DATE", callback=_server_date_value,
              help="Only jobs created on or after (ISO-8601).")
@click.option("--until", metavar="DATE", callback=_server_until_value,
              help="Only jobs created on or before (ISO-8601; a date alone includes that day, a "
                   "time to the second that second).")
@click.option("--wait", is_flag=True, help="Wait for another sync/retag instead of failing.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def sync(ctx: click.Context, follow: bool, poll_interval: float, workers: int, full: bool,
         backend_name: str | None, since: str | None, until: str | None, wait: bool,
         progress: bool | None, **server: Any) -> None:
    """Bring the archive up to date with the server (creates the archive if needed)."""
    _refuse_foreign_directory(_archive_path(ctx))  # before any request
    # --since/--until were checked as parsed. The server line goes with the report.
    provider = connect_from_options(ctx, server, say_on_stdout=True)
    new = not (_archive_path(ctx) / "index.db").exists()
    arc = open_archive(ctx, create=True)
    if new:  # from cron (cwd $HOME) or with a typo in --archive, not the archive one reads
        _echo(f"sync: created a new archive at {arc.path}", err=True)

    def between_passes(so_far: Any) -> None:
        # --follow may wait hours for queued jobs: say so after each pass (on stderr, so
        # a log shows it is alive even without a progress bar).
        _say(f"sync: pass {so_far.passes} done, {so_far.discovered} discovered so far, "
             f"{so_far.pending} jobs still running; next pass in {poll_interval:g} s",
             err=True)

    report = arc.sync(provider, backend_name=backend_name, start_datetime=since,
                      end_datetime=until, full=full, workers=workers,
                      progress=_progress_default(progress), follow=follow,
                      poll_interval=poll_interval, lock_timeout=None if wait else 0.0,
                      on_pass=between_passes)
    _say(str(report))
    if report.failed:
        for job_id, reason in list(report.failed.items())[:10]:
            _echo(f"  failed {job_id}: {mask(reason, _secrets(ctx))}", err=True)
        _echo(f"{len(report.failed)} jobs failed; the next sync retries them.", err=True)
    if report.given_up:
        # Said by this sync only (later ones no longer ask): after the runs that said
        # "failed", the one that gives up must not be the quiet one.
        for job_id, reason in list(report.given_up.items())[:10]:
            _echo(f"  given up {job_id}: {mask(reason, _secrets(ctx))}", err=True)
        _echo(f"{len(report.given_up)} jobs given up; later syncs no longer ask for them "
              "(`jobarchive sync --full` does).", err=True)
    if report.failed or report.given_up:
        ctx.exit(EXIT_PROBLEMS)


@cli.command("ls", epilog="\b\nExamples:\n  jobarchive ls --status DONE --backend ibmq_athens --limit 20"
                          "\n  jobarchive ls --tag vqe --tag qaoa --tags-and --since 2021-01-01"
                          "\n  jobarchive ls --name '^bell' --format csv > bell.csv"
                          "\n  jobarchive ls --format parquet --output jobs.parquet")
@filter_options
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="Write to FILE (needed for parquet).")
@click.option("--columns", metavar="A,B,...", callback=_columns_value,
              help=f"Columns to show (table default: {','.join(TABLE_COLUMNS)}; others: all).")
@click.pass_context
def ls_cmd(ctx: click.Context, fmt: str, output: str | None, columns: list[str] | None,
           **filters: Any) -> None:
    """List archived jobs matching the filters."""
    arc = open_archive(ctx)
    _refuse_inside_archive(arc, output)
    frame = run_query(arc, filters)
    cols = columns or (list(TABLE_COLUMNS) if fmt == "table" else None)
    if fmt == "table" and frame.empty and not output:
        _say("no jobs match", err=True)
        return
    write_frame(frame, fmt, output, cols)


def _no_job(arc: Any, job_id: str) -> str:
    """"no job" for an id not archived, or, when it is the name of archived jobs (the table
    shows it beside the id), their ids."""
    named = arc.query(job_name=f"^{re.escape(job_id)}$", limit=4)["job_id"].tolist()
    if not named:
        return f"no job {job_id!r} in {arc.path}"
    ids = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
    return (f"no job id {job_id!r} in {arc.path}; it is the name of job{'s' * (len(named) > 1)} "
            f"{ids} (give the job_id column of `jobarchive ls`)")


def _summary(arc: Any, record: dict[str, Any], damaged: bool = False) -> str:
    from .status import to_job_status

    def when(value: str | None) -> str:
        return value.replace("T", " ").replace(".000000Z", "Z").replace("Z", " UTC") if value else ""

    try:
        status = f"{to_job_status(record['status']).name} ({record['status']})"
    except (KeyError, ValueError):
        status = str(record.get("status"))
    result, qobj = record.get("result"), record.get("qobj")
    experiments = len(result.get("results") or []) if isinstance(result, dict) else None
    client = record.get("client_info") or {}
    lines = [
        ("job_id", record["job_id"]),
        ("name", record.get("name") or ""),
        ("backend", record.get("backend_name") or ""),
        ("status", status),
        ("created", when(record.get("creation_date"))),
        ("tags", ", ".join(record.get("tags") or [])),
        ("share_level", record.get("share_level") or ""),
        ("run_mode", record.get("run_mode") or ""),
        ("kind", record.get("kind") or ""),
        ("client", _client_text(client)),
        ("experiment_id", record.get("experiment_id") or ""),
        ("result", f"stored, {experiments} experiment{'' if experiments == 1 else 's'}"
                   if result is not None else "none"),
        ("qobj", "stored" if qobj is not None else "none"),
    ]
    if damaged:  # not "none": they were stored, and their blob file is damaged
        lines[-2:] = [("payloads", "result and qobj unreadable: their blob file is damaged")]
    qasms = record.get("qasms")
    if result is None and qobj is None and isinstance(qasms, list) and qasms:
        # A v1 job (2018-2019): its circuits and results are in the record, not payloads.
        lines.append(("qasms", f"{len(qasms)} circuit{'s' if len(qasms) > 1 else ''} with "
                               "QASM and results "
                               "(a v1 job; `show --json` has them)"))
    error = record.get("error")
    if error:
        if isinstance(error, dict):  # either part may be missing: no "None: ..."
            text = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k) is not None)
        else:
            text = str(error)
        lines.append(("error", text or json.dumps(error)))
    text = [f"{k:<14}{_cell(v)}" for k, v in lines if v or k in ("name", "tags")]
    steps = record.get("time_per_step") or {}
    if steps:
        text.append("time_per_step")
        width = max(18, *(len(str(k)) + 2 for k in steps))  # ERROR_TRANSPILING_JOB is 21
        text += [f"  {_cell(k):<{width}}{when(v)}" for k, v in steps.items()]
    history = arc.history(record["job_id"])
    if len(history):
        text.append(f"history ({len(history)} events)")
        for row in history.tail(10).itertuples(index=False):
            text.append(f"  {_cell(row.at)}  {row.kind:<7} {_cell(row.old)} -> "
                        f"{_cell(row.new)}  ({row.source})")
    return "\n".join(text)


def _client_text(client: Any) -> str:
    """``name=version`` pairs of a client_info; a missing or null version is left out."""
    if not isinstance(client, dict):
        return "" if client is None else str(client)
    names = str(client.get("name") or "").split(",")
    version = client.get("version")
    versions = str(version).split(",") if version is not None else []
    return " ".join(f"{n}={v}" if v else n for n, v in
                    itertools.zip_longest(names, versions[:len(names)], fillvalue="") if n)


@cli.command(epilog="\b\nExamples (JOB_ID as `jobarchive ls` lists it):\n  jobarchive show JOB_ID"
                    "\n  jobarchive show JOB_ID --json --no-payloads")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The full to_dict() record as JSON.")
@click.option("--payloads/--no-payloads", default=True,
              help="Include qobj and result in --json output.")
@click.pass_context
def show(ctx: click.Context, job_id: str, as_json: bool, payloads: bool) -> None:
    """Show one archived job: a summary, or its full record as JSON."""
    arc = open_archive(ctx)
    damage = None
    try:
        record = arc.record(job_id)
    except JobNotFoundError:
        raise click.ClickException(_no_job(arc, job_id)) from None
    except BlobIntegrityError as err:
        # What ran, where and when is in the index: only the payloads are lost.
        if as_json and payloads:
            raise click.ClickException(f"{err} (`--json --no-payloads` prints the rest of the "
                                       "record)") from None
        damage, record = str(err), arc.record(job_id, payloads=False)
    if as_json:
        if not payloads:
            record.pop("qobj", None)
            record.pop("result", None)
        _echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    _echo(_summary(arc, record, damaged=damage is not None))
    if damage:
        _echo(damage, err=True)
        ctx.exit(EXIT_PROBLEMS)


@cli.command(epilog="\b\nExamples (job ids as `jobarchive ls` lists them):\n  jobarchive counts JOB_ID"
                    "\n  jobarchive counts ID1 ID2 --format csv")
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="Write to FILE (needed for parquet).")
@click.option("--skip-damaged", is_flag=True, help=_SKIP_DAMAGED_HELP)
@click.pass_context
def counts(ctx: click.Context, job_ids: tuple[str, ...], fmt: str, output: str | None,
           skip_damaged: bool) -> None:
    """Measurement counts of jobs: job_id, experiment, bitstring, count (and key, the server's hex
    key, in csv, json and parquet; the table leaves out job_id for one job)."""
    arc = open_archive(ctx)
    _refuse_inside_archive(arc, output)
    try:
        frame = _read_counts(arc, list(job_ids), skip_damaged)
    except JobNotFoundError as err:
        raise click.ClickException(_no_job(arc, err.job_id)) from None
    if frame.empty:
        _say("no stored counts for " + ", ".join(job_ids), err=True)
        if fmt == "table" and not output:
            return
    cols = ["job_id", "experiment", "bitstring", "count"] if fmt == "table" else None
    if fmt == "table" and len(job_ids) == 1:
        cols = cols[1:]
    write_frame(frame, fmt, output, cols)
    if fmt == "csv" and not frame.empty:
        _say_bitstrings_are_text()
    _say_skipped(ctx, frame)


def _say_bitstrings_are_text(where: str = "") -> None:
    # CSV has no types: readers take "0011" for the number 11 unless told otherwise.
    _say(f"{where}bitstring is text (\"0011\"); read it as such: pandas read_csv(..., "
         "dtype={'bitstring': str}), DuckDB read_csv(..., types={'bitstring': 'VARCHAR'})",
         err=True)


def _read_counts(arc: Any, job_ids: list[str] | None, skip_damaged: bool) -> Any:
    """Archive.counts, its damaged-blob error naming this command's option."""
    try:
        with warnings.catch_warnings():  # _say_skipped reports them on one line
            warnings.simplefilter("ignore", UserWarning)
            return arc.counts(job_ids, missing="skip" if skip_damaged else "raise")
    except BlobIntegrityError as err:
        raise click.ClickException(one_line(err).replace(
            "pass missing='skip' to read the others", "pass --skip-damaged to read the others")
        ) from None


def _say_skipped(ctx: click.Context, frame: Any) -> None:
    skipped = frame.attrs.get("skipped_jobs") or []
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        _echo(f"left out the counts of {len(skipped)} jobs whose blob file is missing or "
              f"damaged ({shown}); `jobarchive audit` says how to restore them", err=True)
        ctx.exit(EXIT_PROBLEMS)


@cli.command(epilog="\b\nExamples:\n  jobarchive retag --tag run-a --add paper-2021 --dry-run"
                    "\n  jobarchive retag --status ERROR --add failed --remote"
                    "\n  jobarchive retag ID1 ID2 --remove draft"
                    "\n  jobarchive retag --backend ibmq_athens --replace archived --remote --token T"
                    "\n  jobarchive retag --undo --dry-run")
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID...]")
@filter_options
@click.option("--all", "select_all", is_flag=True, help="Select every job (no filter needed).")
@click.option("--add", "add_tags", multiple=True, metavar="TAG", callback=_tag_values,
              help="Tag to add; repeatable.")
@click.option("--remove", "remove_tags", multiple=True, metavar="TAG", callback=_tag_values,
              help="Tag to remove; repeatable.")
@click.option("--replace", "replace_tags", multiple=True, metavar="TAG", callback=_tag_values,
              help="Replace the tags with these (ibmq_jobset_ tags are kept); repeatable.")
@click.option("--clear", is_flag=True, help="Remove every tag (except ibmq_jobset_ ones).")
@click.option("--undo", is_flag=True,
              help="Revert the archive's last retag run that changed tags: remove the tags "
                   "it added, add back those it removed (tags a job had before it are kept). "
                   "All its jobs, or those selected; with --remote on the server too. Again: "
                   "redo.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing anywhere.")
@click.option("--remote", is_flag=True,
              help="Push each change to the server first; the new tags are computed from the "
                   "tags the server holds now (changes made there since the last sync are "
                   "kept).")
@click.option("--archive-tags", is_flag=True,
              help="With --remote: compute the new tags from the archive's copy instead "
                   "(the library's default; run `sync --full` first).")
@server_options
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Concurrent server updates with --remote.")
@click.option("--wait", is_flag=True, help="Wait for another sync/retag instead of failing.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Format of the plan/outcome listing.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def retag(ctx: click.Context, job_ids: tuple[str, ...], select_all: bool,
          add_tags: tuple[str, ...], remove_tags: tuple[str, ...], replace_tags: tuple[str, ...],
          clear: bool, undo: bool, dry_run: bool, remote: bool, archive_tags: bool, workers: int,
          wait: bool, fmt: str, progress: bool | None, **filters: Any) -> None:
    """Add, remove or replace tags of the selected jobs (by ids, filters or --all), or undo
    the last retag."""
    server = _pop_server(filters)
    if not (add_tags or remove_tags or replace_tags or clear or undo):
        raise click.UsageError("nothing to do: give --add, --remove, --replace, --clear or --undo")
    if undo and (add_tags or remove_tags or replace_tags or clear):
        raise click.UsageError("--undo reverts the last change; it takes no --add, --remove, "
                               "--replace or --clear")
    if replace_tags and clear:
        raise click.UsageError("--replace and --clear exclude each other")
    if archive_tags and not remote:
        raise click.UsageError("--archive-tags needs --remote")
    selected = bool(job_ids or select_all or _has_filter(filters))
    if not (selected or undo):
        raise click.UsageError("select jobs: give job ids, a filter option, or --all")
    arc = open_archive(ctx)
    if undo:
        _undo(ctx, arc, _selection(arc, job_ids, filters) if selected and not select_all
              else None, server, remote=remote, archive_tags=archive_tags, dry_run=dry_run,
              workers=workers, wait=wait, fmt=fmt, progress=progress)
        return
    selection = _selection(arc, job_ids, filters)
    if not selection:
        _say("no jobs selected", err=True)
        if fmt != "table":  # still an empty JSON list / a CSV header for scripts
            import pandas as pd

            from .retag import PLAN_COLUMNS, RESULT_COLUMNS

            empty = pd.DataFrame(columns=list(PLAN_COLUMNS if dry_run else RESULT_COLUMNS))
            write_frame(empty, fmt, None)
        return
    provider = connect_from_options(ctx, server, arc) if remote else None
    result = arc.retag(selection,
                       replacement_tags=[] if clear else (list(replace_tags) or None),
                       additional_tags=list(add_tags) or None,
                       removal_tags=list(remove_tags) or None,
                       provider=provider, dry_run=dry_run, workers=workers,
                       progress=_progress_default(progress),
                       lock_timeout=None if wait else 0.0,
                       read_server_tags=remote and not archive_tags)
    _print_retag(ctx, result, fmt, dry_run, len(selection))


def _selection(arc: Any, job_ids: tuple[str, ...], filters: dict[str, Any]) -> list[str]:
    """The job ids retag works on: the ids given (checked), or the filter's, narrowed to ids."""
    if job_ids and not _has_filter(filters):
        missing = [j for j in job_ids if j not in arc]
        if missing:
            raise click.ClickException(_no_job(arc, missing[0]))
        return list(dict.fromkeys(job_ids))
    selection = run_query(arc, filters)["job_id"].tolist()
    if job_ids:
        wanted = set(job_ids)
        selection = [j for j in selection if j in wanted]
    return selection


def _undo(ctx: click.Context, arc: Any, selection: list[str] | None, server: dict[str, Any], *,
          remote: bool, archive_tags: bool, dry_run: bool, workers: int, wait: bool, fmt: str,
          progress: bool | None) -> None:
    """``retag --undo``: revert the archive's last retag run (of the selected jobs)."""
    from .retag import undo

    provider = connect_from_options(ctx, server, arc) if remote else None
    result = undo(arc, selection, provider=provider, dry_run=dry_run, workers=workers,
                  progress=_progress_default(progress), lock_timeout=None if wait else 0.0,
                  read_server_tags=remote and not archive_tags)
    summary = result.attrs.get("summary") or {}
    if not summary.get("jobs"):
        _say("undo: nothing to undo (no retag of this archive changed a tag"
             + (" of the selected jobs" if selection is not None else "") + ")", err=True)
        if fmt != "table":
            write_frame(result, fmt, None)
        return
    if summary.get("changed_since"):
        _echo(f"undo: {summary['changed_since']} of the {summary['jobs']} jobs the last "
              "retag changed have other tags since; left as they are", err=True)
    if summary.get("undone_source") == "remote" and not remote:
        _echo("undo: the last retag changed the server's tags too; this undo (without "
              "--remote) changes the archive only, and a `sync --full` would bring the "
              "server's tags back. Add --remote to undo it there too.", err=True)
    _print_retag(ctx, result, fmt, dry_run, int(summary.get("jobs", 0)))


def _print_retag(ctx: click.Context, frame: Any, fmt: str, dry_run: bool, selected: int) -> None:
    changes = [bool(a) or bool(r) for a, r in zip(frame.get("added", []), frame.get("removed", []),
                                                     strict=True)]
    if "server_tags" in frame.columns:  # a --remote plan: the server may need a change too
        changes = [c or (s is not None and set(s) != set(n)) for c, s, n in
                   zip(changes, frame["server_tags"], frame["new_tags"], strict=True)]
    if fmt == "table":
        shown = frame.drop(columns=[c for c in ("old_tags", "source") if c in frame.columns])
        if "outcome" in shown.columns:
            # Under --quiet only the jobs that need a look: those the server refused.
            shown = shown[shown["outcome"] == "refused" if _quiet() else
                          shown["outcome"] != "unchanged"]
        elif _quiet():
            shown = shown.iloc[:0]
        elif len(changes) == len(shown):
            shown = shown[changes]
        if len(shown):
            write_frame(shown, "table", None)
    else:
        write_frame(frame, fmt, None)
    if dry_run:
        would = (frame.attrs.get("summary") or {}).get("would_change", sum(changes))
        _say(f"retag (dry run): {selected} selected, {would} would change; "
             "nothing written", err=True)
        return
    outcomes = frame["outcome"].value_counts().to_dict() if "outcome" in frame.columns else {}
    where = "server and archive" if (frame.attrs.get("summary") or {}).get(
        "source") == "remote" else "archive only"
    tally = (f"retag ({where}): {selected} selected, "
             + ", ".join(f"{outcomes.get(k, 0)} {k}" for k in ("updated", "unchanged", "refused")))
    if outcomes.get("refused"):
        _echo(tally, err=True)
    else:
        _say(tally, err=True)
    if outcomes.get("refused"):
        ctx.exit(EXIT_PROBLEMS)


@cli.command(epilog="\b\nExamples:\n  jobarchive audit\n  jobarchive audit --reproduce --threshold 0.9"
                    "\n  jobarchive audit --repair\n\nExit code 0: no problem; 3: problems found.")
@click.option("--reproduce", is_flag=True,
              help="Re-run stored qobj on BasicSimulator and compare counts (Hellinger fidelity).")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Fidelity below which a reproduced simulator job is flagged [default 0.95; "
                   "lowered to what the shots allow for the outcomes seen; 1.0: exact].")
@click.option("--device-threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Fidelity below which a reproduced device job is flagged (the ideal re-run "
                   "lacks the device's noise) [default: the lower of --threshold and 0.5].")
@click.option("--sample", type=click.IntRange(1, MAX_INT), default=None,
              help="Reproduce only this many jobs (a random sample).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Seed of the sample and the simulator.")
@click.option("--shots", type=click.IntRange(1, 10**7), default=None,
              help="Shots of each re-run (default: the qobj's).")
@click.option("--repair", is_flag=True, help="Remove orphan blobs left by interrupted writes; rewrite "
              "rows an older version wrote after the upgrade and recount tag_counts.")
@click.option("--no-verify", is_flag=True, help="Skip re-hashing blobs (existence and size only).")
@click.option("--all", "show_all", is_flag=True, help="List every job, not only problems.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def audit(ctx: click.Context, reproduce: bool, threshold: float | None,
          device_threshold: float | None, sample: int | None, seed: int | None,
          shots: int | None, repair: bool, no_verify: bool, show_all: bool, fmt: str,
          progress: bool | None) -> None:
    """Check every blob's SHA-256 and each job's record; optionally reproduce results."""
    repro = {"threshold": threshold, "device_threshold": device_threshold, "sample": sample,
             "seed": seed, "shots": shots}
    options: dict[str, Any] = {k: v for k, v in repro.items() if v is not None}
    if options and not reproduce:
        raise click.UsageError("--threshold, --device-threshold, --sample, --seed and --shots "
                               "need --reproduce")
    arc = open_archive(ctx)
    if reproduce:
        options["reproduce"] = True
    # Reading every record is a minute's silence for 10^6 jobs without it.
    options["progress"] = _progress_default(progress)
    try:
        frame = arc.audit(verify=not no_verify, repair=repair, **options)
    except IndexIntegrityError as err:  # a finding of the audit, not a failure to run it
        _echo(f"audit: {one_line(err)}", err=True)
        ctx.exit(EXIT_PROBLEMS)
    problems = frame[~frame["ok"].astype(bool)]
    shown = frame if show_all else problems
    if fmt == "table":
        keep = ["job_id", "ok", "problem", "notes"]
        if reproduce:  # where it ran decides how a fidelity reads (devices are noisy)
            keep[2:2] = ["backend_name", "fidelity"]
        if len(shown):
            write_frame(shown[keep].round({"fidelity": 4}), fmt, None)
    else:
        write_frame(shown, fmt, None)
    summary = dict(frame.attrs.get("summary") or {})
    removed = frame.attrs.get("removed_orphans") or []
    orphans = frame.attrs.get("orphans") or []
    parts = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
             for k, v in summary.items() if not isinstance(v, dict | list) and v is not None]
    found = bool(len(problems) or frame.attrs.get("index_problems")
                 or frame.attrs.get("tag_count_problems"))
    (_echo if found else _say)(
        "audit: " + (", ".join(parts) or f"jobs={len(frame)}, problems={len(problems)}"),
        err=True)
    kept = frame.attrs.get("kept_orphans") or {}
    if removed:
        _say(f"removed {len(removed)} orphan blobs", err=True)
    elif len(orphans) > len(kept):
        _say(f"{len(orphans) - len(kept)} orphan blobs (harmless; `jobarchive audit "
             "--repair` removes them)", err=True)
    if kept:
        _echo(f"{len(kept)} orphan blobs may hold needed data; --repair keeps them:", err=True)
        for path, why in sorted(kept.items()):
            _echo(f"  {path}: {why}", err=True)
    if fmt == "table" and not show_all:
        _hint_findings(frame)
    damaged = int((~frame["blob_ok"].astype(bool)).sum())
    if damaged:
        _echo(f"{damaged} jobs have a missing or damaged blob (or a broken reference to "
              "one): restore the files from a backup (`jobarchive backup` makes one, its "
              "blobs checked), or run "
              "`jobarchive sync`, which fetches the payloads of a missing or truncated "
              "file again where the server still serves them", err=True)
    index_problems = [line for found in frame.attrs.get("index_problems") or []
                      for line in found.splitlines() if line.strip()]
    for line in index_problems[:10]:
        _echo(f"index.db is damaged: {line.strip()}", err=True)
    if len(index_problems) > 10:
        _echo(f"index.db: {len(index_problems) - 10} more findings (PRAGMA quick_check)", err=True)
    tag_problems = frame.attrs.get("tag_count_problems") or []
    for line in tag_problems[:10]:
        _echo(f"tag_counts: {line}", err=True)
    if len(tag_problems) > 10:
        _echo(f"tag_counts: {len(tag_problems) - 10} more tags (`jobarchive audit --repair` "
              "recounts them)", err=True)
    if len(problems) or index_problems or tag_problems:
        ctx.exit(EXIT_PROBLEMS)


def _hint_findings(frame: Any) -> None:
    """Say what the informational findings of jobs without problems are (the table lists
    problems only): a DONE job without its result, a client version not recorded..."""
    notes = frame.loc[frame["ok"].astype(bool), "notes"].fillna("")
    notes = notes[notes != ""]
    if notes.empty:
        return
    from .audit import note_kind_counts

    kinds = note_kind_counts(notes)  # per distinct text: 10^6 jobs share a few
    _say(f"{len(notes)} jobs without problems have reproducibility findings "
         "(`--all` lists them): " + "; ".join(f"{k}: {n}" for k, n in kinds.items()),
         err=True)


@cli.command(epilog="\b\nExamples:\n  jobarchive report report.html"
                    "\n  jobarchive --archive lab.jobarchive report lab.html --reproduce --sample 50")
@click.argument("path", metavar="PATH")
@click.option("--title", default=None, help="Report title.")
@click.option("--reproduce", is_flag=True,
              help="Include a reproduction audit (fidelity histogram).")
@click.option("--sample", type=click.IntRange(1, MAX_INT), default=None,
              help="With --reproduce: re-run only this many jobs.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar of --reproduce (default: on a terminal).")
@click.pass_context
def report(ctx: click.Context, path: str, title: str | None, reproduce: bool,
           sample: int | None, progress: bool | None) -> None:
    """Write a self-contained HTML report with plots to PATH (a directory: PATH/report.html)."""
    if sample is not None and not reproduce:
        raise click.UsageError("--sample needs --reproduce")
    arc = open_archive(ctx)
    options: dict[str, Any] = {"reproduce": reproduce, "title": title,
                               "progress": _progress_default(progress)}
    if sample is not None:
        options["sample"] = sample
    written = arc.report(path, **options)
    _say(f"report: {written}")


@cli.command(epilog="\b\nExamples:\n  jobarchive export out/"
                    "\n  jobarchive export out/ --format csv --status DONE"
                    "\n  duckdb -c \"select backend_name, count(*) from 'out/jobs.parquet' group by 1\"")
@click.argument("directory", metavar="DIR")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet",
              show_default=True)
@click.option("--no-counts", is_flag=True, help="Export only the job index.")
@click.option("--skip-damaged", is_flag=True, help=_SKIP_DAMAGED_HELP)
@filter_options
@click.pass_context
def export(ctx: click.Context, directory: str, fmt: str, no_counts: bool, skip_damaged: bool,
           **filters: Any) -> None:
    """Export the job index (jobs.*) and counts (counts.*) for DuckDB, Spark or pandas."""
    arc = open_archive(ctx)
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise click.ClickException(f"{out} exists and is not a directory")
    _refuse_inside_archive(arc, out)
    out.mkdir(parents=True, exist_ok=True)
    jobs_path, counts_path = out / f"jobs.{fmt}", out / f"counts.{fmt}"
    # One snapshot: a sync meanwhile must not put counts of jobs that jobs.* lacks beside it.
    with arc.snapshot():
        frame = run_query(arc, filters)
        table = None if no_counts else _read_counts(
            arc, frame["job_id"].tolist() if _has_filter(filters) else None, skip_damaged)
    lines = [f"{jobs_path}: {len(frame)} jobs"]
    if table is not None:
        _replace_together([(jobs_path, _writer(frame, fmt)), (counts_path, _writer(table, fmt))])
        lines.append(f"{counts_path}: {len(table)} rows")
    else:
        _replace_whole(jobs_path, _writer(frame, fmt))
    if table is None and counts_path.exists():
        counts_path.unlink()  # an earlier export's: it would pass for this one's counts
        lines.append(f"{counts_path}: removed (an earlier export's; --no-counts writes none)")
    # Printed once everything is written: a closed pipe (`| head -1`) cannot cut it short.
    for line in lines:
        _say(line)
    if fmt == "csv" and table is not None:
        _say_bitstrings_are_text("counts.csv: ")
    if table is not None:
        _say_skipped(ctx, table)


@cli.command(epilog="\b\nExamples:\n  jobarchive backup /mnt/backups/lab-2026-11-25"
                    "\n  jobarchive backup copy/ --allow-damaged --format json"
                    "\n\nExit code 0: copied; 3: a blob is missing or damaged (nothing is written "
                    "unless --allow-damaged, which copies the rest and lists it).")
@click.argument("dest", metavar="DEST")
@click.option("--allow-damaged", is_flag=True,
              help="Back up everything else when a blob is missing or damaged (listed; exit 3).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def backup(ctx: click.Context, dest: str, allow_damaged: bool, fmt: str) -> None:
    """Copy the archive to a new directory, consistently while others write (the index at
    one snapshot, then every blob it lists, checked against its SHA-256)."""
    arc = open_archive(ctx)
    try:
        result = arc.backup(dest, allow_damaged=allow_damaged)
    except BlobIntegrityError as err:
        _echo(f"backup: {one_line(err)}", err=True)
        ctx.exit(EXIT_PROBLEMS)
    if fmt == "json":
        _echo(json.dumps(result.as_dict()))
    else:
        _say(f"{result.path}: {result.jobs} jobs, {result.blobs} blobs, {result.bytes:,} bytes")
        for problem in result.problems:
            _echo(f"not copied: {problem}", err=True)
    if result.problems:
        ctx.exit(EXIT_PROBLEMS)


def _writer(frame: Any, fmt: str) -> Callable[[Path], Any]:
    return lambda tmp: _to_parquet(frame, tmp) if fmt == "parquet" else _to_csv(frame, tmp)


def _replace_whole(path: Path, write: Callable[[Path], Any]) -> None:
    """``write`` a temp file beside ``path``, then rename it over ``path``: a write that
    fails (a full disk) leaves the file that was there, not half of a new one, and a reader
    never sees a file being written (a colleague's notebook, while cron rewrites it)."""
    _replace_together([(path, write)])


def _replace_together(outputs: Sequence[tuple[Path, Callable[[Path], Any]]]) -> None:
    """``_replace_whole`` of files that go together (export's jobs.* and counts.*): every
    one is written before any is renamed, so a failed or killed run leaves the old set, not
    new jobs beside old counts."""
    import socket

    for path, _ in outputs:
        if path.is_dir():  # else the rename's error names the temp file
            raise click.ClickException(f"{path} is a directory, not a file")
    # A temp file of this run's own: two runs writing one file (a cron job overrunning into
    # the next) shared one, the second rewrote and renamed the first's, which went on
    # writing into the renamed file. Named by host and pid, so a later run removes those
    # of runs killed meanwhile (timeout(1), systemd) instead of one more each kill.
    host = socket.gethostname().replace("/", "_")
    written: list[tuple[Path, Path]] = []
    try:
        for path, write in outputs:
            try:
                if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: in place
                    write(path)
                    continue
                target = Path(os.path.realpath(path))  # a symbolic link stays, its file goes
                _remove_dead_runs_temp_files(target, host)
                tmp = target.with_name(f".{target.name}.{host}.{os.getpid()}.tmp")
                written.append((tmp, target))
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))  # umask's
                write(tmp)
            except OSError as err:  # named the temp file, or no file ("File too large")
                raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        for tmp, target in written:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise


def _remove_dead_runs_temp_files(target: Path, host: str) -> None:
    """Remove the temp files ``_replace_whole`` left beside ``target`` in runs of this host
    that were killed (their process is gone); another host's are left alone."""
    import glob

    prefix = f".{target.name}.{host}."
    for leftover in target.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = leftover.name[len(prefix):-len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            leftover.unlink(missing_ok=True)
        except OSError:  # alive, another user's
            pass


@cli.command(epilog="\b\nExamples:\n  jobarchive emulator --port 8080 --seed-jobs 1000"
                    "\n  jobarchive emulator --port 0 --seed-active 20 --time-scale 600 --token t"
                    "\n  jobarchive sync --url http://127.0.0.1:8080/api --token <printed token>")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port (0 picks a free one).")
@click.option("--seed-jobs", type=click.IntRange(0, 1_000_000), default=1000, show_default=True,
              help="Size of the synthetic job history.")
@click.option("--seed-active", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="Jobs still in flight, moving on the emulator's clock.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="History seed (same seed, same jobs).")
@click.option("--time-scale", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
              help="Emulated seconds per real second.")
@click.option("--token", default=None, help="API token to accept (default: a random one).")
def emulator(host: str, port: int, seed_jobs: int, seed_active: int, seed: int,
             time_scale: float, token: str | None) -> None:
    """Serve the legacy IBM Quantum job API locally until Ctrl-C; prints its URL and token."""
    from .emulator import serve

    try:
        serve(port=port, seed_jobs=seed_jobs, seed=seed, seed_active=seed_active,
              time_scale=time_scale, host=host, token=token)
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        raise click.ClickException(f"port {port} on {host} is in use: pass --port 0 for a "
                                   "free one, or another --port") from None


@cli.command(epilog="\b\nExamples:\n  jobarchive demo\n  jobarchive demo --quick"
                    "\n  jobarchive --archive /tmp/d.jobarchive demo --seed-jobs 500 --fresh")
@click.option("--seed-jobs", type=click.IntRange(0, 200_000), default=None,
              help="Jobs in the emulator's seeded history [default 2000; 300 with --quick].")
@click.option("--quick", is_flag=True, help="A smaller, faster run.")
@click.option("--fresh", is_flag=True,
              help="Replace an existing archive at the path (at the default path, an archive "
                   "an earlier demo made is replaced anyway).")
@click.option("--report", "report_path", metavar="FILE", default=None,
              help="HTML report path [default: demo-report.html next to the archive].")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars (default: on a terminal).")
@click.pass_context
def demo(ctx: click.Context, seed_jobs: int | None, quick: bool, fresh: bool,
         report_path: str | None, progress: bool | None) -> None:
    """Run the whole tour against the embedded emulator, into ./demo.jobarchive by default."""
    from .demo import DEFAULT_ARCHIVE as DEMO_ARCHIVE
    from .demo import run_demo

    root = ctx.find_root().obj
    path = Path(root["archive"]) if root["archive_given"] else Path(DEMO_ARCHIVE)
    # At the default path a re-run replaces the demo's own archive (the README's first
    # command works twice); a path the user names is never replaced without --fresh.
    run_demo(path, seed_jobs=seed_jobs, quick=quick, fresh=fresh, report_path=report_path,
             progress=_progress_default(progress), echo=_echo,
             replace_own=not root["archive_given"], command=_invoked_as())


def _invoked_as() -> str:
    """How to type this program again: ``jobarchive`` when that is what the PATH runs, else
    the path it was started by (``.venv/bin/jobarchive`` right after the README's setup,
    where a bare ``jobarchive`` is "command not found")."""
    import shlex
    import shutil

    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) != "jobarchive":  # python -m jobarchive.cli, an embedding
        return "jobarchive"
    found = shutil.which("jobarchive")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "jobarchive"
    return shlex.quote(argv0)


def main(argv: Sequence[str] | None = None) -> None:
    """The ``jobarchive`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="jobarchive")
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:
            _die_of_sigint()
        raise


def _die_of_sigint() -> None:
    """End as Python ends on an uncaught Ctrl-C: killed by SIGINT. A shell running this in a
    loop or script stops only then; an exit code (even 130) tells it the program handled the
    Ctrl-C, and `for a in *.jobarchive; do jobarchive ... sync; done` went on to the next."""
    import signal

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    main()
