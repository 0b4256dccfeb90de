"""The to_dict() record: mapping from server documents, normalization and validation.

A *record* is the JSON-only dict that ``IBMQJob.to_dict()`` returns and ``Archive.add()``
stores. ``normalize()`` is the one place that decides its canonical form, so
``IBMQJob.from_dict`` and the archive cannot drift apart: both go through it.
"""

from __future__ import annotations

import copy
import json
import keyword
import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from .exceptions import JobValidationError
from .status import API_TO_JOB_STATUS

SCHEMA_PATH = Path(__file__).parent / "schemas" / "job.schema.json"

# Keys every record carries, in to_dict() order; anything else is a kept server field.
KNOWN_KEYS: tuple[str, ...] = (
    "job_id", "creation_date", "status", "backend_name", "kind", "name", "tags",
    "time_per_step", "run_mode", "share_level", "client_info", "experiment_id", "error",
    "info_queue", "qobj", "result",
)
_KNOWN = frozenset(KNOWN_KEYS)

# Server camelCase -> record key (reference §3.4), beyond the generic camel-to-snake rule.
_SERVER_RENAMES = {
    "id": "job_id",
    "backend": "_backend_info",
    "creationDate": "creation_date",
    "qObject": "qobj",
    "qObjectResult": "result",
    "timePerStep": "time_per_step",
    "shots": "_api_shots",
    "runMode": "run_mode",
    "infoQueue": "info_queue",
    "experimentTag": "experiment_id",
    "calibration": "_properties",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def camel_to_snake(name: str) -> str:
    """``shareLevel`` -> ``share_level``; Python keywords get a trailing ``_``."""
    snake = _CAMEL.sub("_", name).lower()
    return snake + "_" if keyword.iskeyword(snake) else snake


def map_server_keys(doc: dict[str, Any], renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Map the top-level keys of a server document (nested dicts are left as sent)."""
    renames = _SERVER_RENAMES if renames is None else renames
    return {renames.get(k) or camel_to_snake(k): v for k, v in doc.items()}


def from_server_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """A raw camelCase job document -> an un-normalized record."""
    if not isinstance(doc, dict):
        raise JobValidationError(f"a server job document must be a dict, not {type(doc).__name__}")
    mapped = map_server_keys(doc)
    info_queue = mapped.get("info_queue")
    if isinstance(info_queue, dict):
        mapped["info_queue"] = map_server_keys(info_queue, {})
    backend = mapped.get("_backend_info")
    if "backend_name" not in mapped and isinstance(backend, dict):
        mapped["backend_name"] = backend.get("name")
    return mapped


@lru_cache(maxsize=1)
def _schema_validator():
    return fastjsonschema.compile(json.loads(SCHEMA_PATH.read_text()))


def parse_date(value: Any, job_id: str | None, field: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 string or datetime (naive means UTC)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise JobValidationError(
                f"{value!r} is not an ISO-8601 date (e.g. 2020-10-20T14:03:11.512Z)",
                job_id, field,
            ) from None
    else:
        raise JobValidationError(
            f"expected an ISO-8601 string, got {type(value).__name__}", job_id, field
        )
    try:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise JobValidationError(
            f"{value!r} is outside the range of UTC dates (years 1-9999)", job_id, field
        ) from None


def format_date(dt: datetime) -> str:
    """The record's one date spelling: UTC, microseconds, ``Z`` (four-digit years, which
    strftime's %Y does not pad)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _normalize_date(value: Any, job_id: str | None, field: str) -> str:
    return format_date(parse_date(value, job_id, field))


def _check_utf8(text: str, job_id: str | None, where: str) -> None:
    # A lone surrogate (json.loads turns "\\ud800" into one) cannot be stored as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise JobValidationError(
            f"{text[max(0, err.start - 10):err.end + 10]!r} holds a lone surrogate, not valid Unicode",
            job_id, where,
        ) from None


# orjson refuses (TypeError) anything but plain JSON types with these options: datetimes,
# dataclasses and subclasses of str/int/dict/list are not passed as their JSON look-alikes.
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


_NOT_JSON = object()


def _json_copy(value: Any) -> Any:
    """The hot path of ``_check_json``: ``value`` read back from its JSON if JSON holds it
    exactly (a deep copy sharing nothing with it), else ``_NOT_JSON``.

    orjson writes it and the value read back must be equal, which also refuses what orjson
    writes lossily (NaN and infinities as null, tuples as lists, UUIDs, enums). Ints beyond
    64 bits fail here too; the walk of ``_check_json`` accepts them.
    """
    try:
        back = orjson.loads(orjson.dumps(value, option=_PLAIN_JSON))
    except TypeError:  # orjson.JSONEncodeError: a type, key or string JSON cannot hold
        return _NOT_JSON
    return back if back == value else _NOT_JSON


# Containers may nest this deep in a field's value (which counts as one): what orjson
# writes, the fast path of normalize and of every write and read. Deeper values took the
# stdlib fallback: past ~1000 levels add() raised a bare RecursionError, and from ~450 a job
# it stored could not be read back by get() or rebuilt by from_dict() (deepcopy's recursion).
MAX_NESTING = 254
# Python's default cap on int <-> str conversions (sys.int_info.default_max_str_digits):
# json.dumps of a longer int raised a bare ValueError from add(), and an archive written by a
# process that lifted the cap could not be read by one that did not.
_MAX_DIGITS = 4300
_MAX_INT = 10 ** _MAX_DIGITS


def _check_json(value: Any, job_id: str | None, field: str) -> None:
    """Refuse what JSON cannot hold losslessly (sets, datetimes, NaN, non-str keys...)."""
    if _json_copy(value) is not _NOT_JSON:
        return
    # Walk again, building paths, to name the offending place.
    stack = [(value, field, 1)]
    while stack:
        v, where, depth = stack.pop()
        t = type(v)
        if (t is dict or t is list) and depth > MAX_NESTING:
            top = where.split(".", 1)[0]
            raise JobValidationError(
                f"lists and objects nested more than {MAX_NESTING} levels deep at "
                f"{where[:80]}{'...' if len(where) > 80 else ''}; store such a value as a JSON "
                "string instead", job_id, top)
        if t is str:
            if not v.isascii():
                _check_utf8(v, job_id, where)
            continue
        if t is int and not -_MAX_INT < v < _MAX_INT:
            raise JobValidationError(
                f"an integer of {v.bit_length():,} bits has more than the {_MAX_DIGITS:,} decimal "
                "digits Python reads from JSON by default; store such a number as a string instead",
                job_id, where)
        if t is int or t is bool or v is None:
            continue
        if t is float:
            if not math.isfinite(v):
                raise JobValidationError(f"{v} is not a JSON number", job_id, where)
        elif t is dict:
            for k, item in v.items():
                if type(k) is not str:
                    raise JobValidationError(f"key {k!r} is not a string", job_id, where)
                if not k.isascii():
                    _check_utf8(k, job_id, where)
                stack.append((item, f"{where}.{k}", depth + 1))
        elif t is list:
            stack.extend((item, f"{where}.{i}", depth + 1) for i, item in enumerate(v))  # as schema errors
        else:
            raise JobValidationError(
                f"{t.__name__} is not a JSON type (use dict, list, str, int, float, bool, None)",
                job_id, where,
            )


def normalize(record: dict[str, Any], *, detach: bool = False) -> dict[str, Any]:
    """Validate a record and return it in canonical form (a new dict, input untouched).

    Canonical: every known key present, status upper case, dates UTC ``...ffffffZ``, tags a
    list, unknown server fields kept after the known ones. Raises ``JobValidationError``
    naming the job id and the field. The result shares nested values with ``record``;
    ``detach=True`` returns a deep copy instead (the validation's own, at no extra cost).
    """
    if not isinstance(record, dict):
        raise JobValidationError(f"a job record must be a dict, not {type(record).__name__}")
    job_id = record.get("job_id")
    if not isinstance(job_id, str):
        job_id = None
        if "job_id" not in record and "id" in record and "creationDate" in record:
            raise JobValidationError(
                "this is a raw server document (camelCase keys such as 'id', 'creationDate'), "
                "not a to_dict() record; pass IBMQJob.from_server(doc) instead",
                record["id"] if isinstance(record["id"], str) else None)
    try:
        _schema_validator()(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = ".".join(str(p) for p in exc.path[1:]) or None
        raise JobValidationError(exc.message.replace("data.", "", 1), job_id, field) from None
    if ".." in job_id:
        raise JobValidationError("job ids may not contain '..'", job_id, "job_id")

    status = record["status"].upper()
    if status not in API_TO_JOB_STATUS:
        raise JobValidationError(
            f"{record['status']!r} is not a server job status; valid: "
            + ", ".join(API_TO_JOB_STATUS), job_id, "status",
        )
    tps = record.get("time_per_step")
    if tps is not None:
        tps = {step: _normalize_date(when, job_id, f"time_per_step.{step}") for step, when in tps.items()}
    tags = record.get("tags")
    backend_name = record.get("backend_name")
    if backend_name is None and "backend_name" not in record:
        # upstream's kwargs shape (reference 1.4) names the backend only in _backend_info,
        # from which from_server_doc() reads it too
        info = record.get("_backend_info")
        if isinstance(info, dict) and isinstance(info.get("name"), str):
            backend_name = info["name"]
    out: dict[str, Any] = {
        "job_id": job_id,
        "creation_date": _normalize_date(record["creation_date"], job_id, "creation_date"),
        "status": status,
        "backend_name": backend_name,
        "kind": record.get("kind"),
        "name": record.get("name"),
        "tags": list(tags) if tags is not None else [],
        "time_per_step": tps,
        "run_mode": record.get("run_mode"),
        "share_level": record.get("share_level"),
        "client_info": record.get("client_info"),
        "experiment_id": record.get("experiment_id"),
        "error": record.get("error"),
        "info_queue": record.get("info_queue"),
        "qobj": record.get("qobj"),
        "result": record.get("result"),
    }
    for key, value in record.items():
        if key not in _KNOWN:
            if not key.islower() and _known_field(key) is not None:
                return normalize(_with_known_names(record, job_id), detach=detach)
            out[key] = value
    back = _json_copy(out)  # one C round trip for the whole record; the walk names the field
    if back is not _NOT_JSON:
        return back if detach else out
    for key, value in out.items():
        _check_json(value, job_id, key)
    return copy.deepcopy(out) if detach else out  # ints beyond 64 bits: no JSON copy


def _known_field(key: str) -> str | None:
    """The record key of a server spelling of a known field (``shareLevel``), else None."""
    field = _SERVER_RENAMES.get(key) or camel_to_snake(key)
    return field if field in _KNOWN and field != key else None


def _with_known_names(record: dict[str, Any], job_id: str | None) -> dict[str, Any]:
    """``record`` with server spellings of known fields under their record keys.

    Kept as unknown fields they were lost to every filter and accessor: ``shareLevel: hub``
    beside no ``share_level`` archived a job that ``query(share_level="hub")`` did not find.
    """
    out = dict(record)
    for key, value in record.items():
        field = None if key in _KNOWN else _known_field(key)
        if field is None:
            continue
        del out[key]
        if value is None:
            continue
        if out.get(field) is None:
            out[field] = value
        elif out[field] != value:
            raise JobValidationError(
                f"{key!r} (the server's name of {field!r}) is {value!r} but {field!r} is "
                f"{out[field]!r}; a to_dict() record uses {field!r} alone: drop one of them",
                job_id, field)
    return out


def split_payloads(record: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """(record without qobj/result, qobj, result): the index keeps the first, blobs the rest."""
    doc = dict(record)
    return doc, doc.pop("qobj", None), doc.pop("result", None)


def client_version_of(client_info: Any) -> dict[str, str]:
    """Upstream's client_version setter: ``{"name": "a,b", "version": "1,2"}`` -> ``{a: 1, b: 2}``."""
    if not client_info or not isinstance(client_info, dict):
        return {}
    name = client_info.get("name", "unknown")
    version = client_info.get("version", "unknown")
    if isinstance(name, str) and name.startswith("qiskit") and isinstance(version, str):
        return dict(zip(name.split(","), version.split(","), strict=False))
    return {name: version}


def client_version_text(client_info: Any) -> str | None:
    """The client as one sortable string, ``qiskit-terra==0.16.1,qiskit-ibmq-provider==0.11.1``."""
    if (isinstance(client_info, dict) and len(client_info) == 2 and type(client_info.get("name")) is str
            and type(client_info.get("version")) is str):
        return _client_text(client_info["name"], client_info["version"])  # most jobs share one
    return _client_text_of(client_info)


@lru_cache(maxsize=256)
def _client_text(name: str, version: str) -> str | None:
    return _client_text_of({"name": name, "version": version})


def _client_text_of(client_info: Any) -> str | None:
    # A client without a name (null, a number) is not recorded: there is nothing to find it by.
    versions = {k: v for k, v in client_version_of(client_info).items() if isinstance(k, str)}
    if not versions:
        return None
    return ",".join(k if v is None else f"{k}=={v}" for k, v in versions.items())  # null: name only
