"""LoopBack ``filter`` evaluation for the emulator (reference §6).

A filter is ``{"where": ..., "order": "creationDate DESC", "limit": n, "skip": k, "fields": ...}``.
``compile_where`` turns a ``where`` into a predicate over a *view*: any object with
``get(path)`` (the value at a dotted path, or ``MISSING``) and ``get_ms(path)`` (epoch
milliseconds for date fields, or None). Array fields follow MongoDB semantics, as the real
server's LoopBack/Mongo stack does: ``{"tags": "t1"}`` matches when the array holds ``t1``;
and as there, only the first operator of a condition object applies.
Every malformed input raises ``FilterError`` (the server answers 400), never anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

MISSING: Any = object()

Predicate = Callable[[Any], bool]

_OPERATORS = frozenset({
    "eq", "neq", "inq", "nin", "gt", "gte", "lt", "lte", "between", "regexp", "like", "nlike",
    "exists",
})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_MAX_DEPTH = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FilterError(ValueError):
    """A filter the server cannot evaluate (answered with HTTP 400)."""


def parse_date_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO-8601 string (naive means UTC; digits past the
    milliseconds dropped), or None if it is not one."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    try:
        dt = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # Exact integer arithmetic, digits past the milliseconds dropped as JavaScript's Date
    # (the real server's parser) drops them; float timestamps would round some of them up.
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class DictView:
    """A view over a plain JSON document (used for reference filtering and fallbacks)."""

    __slots__ = ("doc",)

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def get(self, path: str) -> Any:
        return resolve_path(self.doc, path)

    def get_ms(self, path: str) -> int | None:
        return parse_date_ms(self.get(path))


def resolve_path(doc: Any, path: str) -> Any:
    """The value at a dotted path of a document, or MISSING."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return MISSING
    return cur


def js_regex(pattern: Any) -> re.Pattern[str]:
    """Compile a JS-style regex: ``"bell"``, ``"/^bell/i"`` (flags i, m, s; g and u ignored)."""
    if isinstance(pattern, dict) and "source" in pattern:  # a serialized RegExp, be lenient
        pattern = pattern["source"]
    if not isinstance(pattern, str):
        raise FilterError(f"regexp needs a string, not {type(pattern).__name__}")
    flags = 0
    m = re.fullmatch(r"/(.*)/([a-z]*)", pattern, re.S)
    if m:
        pattern = m.group(1)
        for f in m.group(2):
            if f == "i":
                flags |= re.I
            elif f == "m":
                flags |= re.M
            elif f == "s":
                flags |= re.S
            elif f not in "gu":
                raise FilterError(f"unknown regexp flag {f!r}")
    try:
        return re.compile(_from_javascript(pattern, bool(flags & re.M)), flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise FilterError(f"invalid regexp {pattern!r}: {exc}") from None


# Letters JavaScript gives a meaning after a backslash (non-unicode mode); any other escaped
# letter is the letter itself ("\A" matches "A"), where Python's re has anchors or refuses it.
_JS_LETTER_ESCAPES = frozenset("dDwWsSbBnrtvfcxuk")
_JS_CLASS = {"d": "0-9", "w": "A-Za-z0-9_"}  # ASCII only in JavaScript, Unicode in Python


def _from_javascript(src: str, multiline: bool) -> str:
    """A JavaScript RegExp source (the real server compiles ``regexp`` with JavaScript) as
    Python ``re`` syntax with the same matches; FilterError for what JavaScript refuses,
    e.g. Python's own ``(?i)``, ``(?P<n>...)``, ``(?#...)``, ``(?>...)`` or ``a++``."""
    out: list[str] = []
    i, n, in_class = 0, len(src), False
    while i < n:
        ch = src[i]
        if ch == "\\":
            if i + 1 >= n:
                raise FilterError("invalid regexp: \\ at end of pattern")
            nx = src[i + 1]
            if nx == "k" and not in_class and src.startswith("<", i + 2):
                end = src.find(">", i + 3)
                if end < 0:
                    raise FilterError("invalid regexp: invalid named reference")
                out.append(f"(?P={src[i + 3:end]})")
                i = end + 1
                continue
            if nx in _JS_CLASS:
                out.append(_JS_CLASS[nx] if in_class else f"[{_JS_CLASS[nx]}]")
            elif nx in "DW" and not in_class:
                out.append(f"[^{_JS_CLASS[nx.lower()]}]")
            elif nx.isalpha() and nx.isascii() and nx not in _JS_LETTER_ESCAPES:
                out.append(re.escape(nx))  # an identity escape: the letter itself
            else:
                out.append(src[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append("\\[" if ch == "[" else ch)  # "[" inside a class is a plain "["
            i += 1
            continue
        if ch == "[":
            if src.startswith("[]", i):      # matches nothing in JavaScript
                out.append("(?!)")
                i += 2
                continue
            if src.startswith("[^]", i):     # any character, line breaks included
                out.append("[\\s\\S]")
                i += 3
                continue
            in_class = True
            out.append(ch)
            i += 1
            if src.startswith("^", i):
                out.append("^")
                i += 1
            continue
        if ch == "(" and src.startswith("(?", i):
            rest = src[i + 2:]
            if rest.startswith((":", "=", "!", "<=", "<!")):
                out.append("(?")
                i += 2
                continue
            if rest.startswith("<"):
                end = rest.find(">")
                name = rest[1:end] if end > 0 else ""
                if not name.isidentifier():
                    raise FilterError("invalid regexp: invalid capture group name")
                out.append(f"(?P<{name}>")
                i += 4 + len(name)
                continue
            raise FilterError(f"invalid regexp: invalid group '(?{rest[:1]}' (JavaScript "
                              "has no inline flags, (?P, (?# or (?>; use /.../i for flags)")
        if ch in "*+?}" and src.startswith("+", i + 1):
            raise FilterError("invalid regexp: nothing to repeat (no possessive quantifiers)")
        if ch == "$" and not multiline:
            out.append("\\Z")  # JavaScript's $ is the end only, not before a final newline
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _like_regex(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise FilterError("like needs a string")
    body = re.escape(pattern).replace("%", ".*").replace("_", ".")
    return re.compile("^" + body + "$", re.S)


def _values(value: Any) -> list[Any]:
    """The candidates an operator tests: the elements of an array, else the value itself."""
    if isinstance(value, list):
        return value
    return [value]


def _eq(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return a is b
    return a == b


def _order_key(value: Any) -> tuple[int, Any] | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return None


def _leaf(path: str, op: str, operand: Any) -> Predicate:
    """One ``path op operand`` test."""
    if op == "eq":
        if isinstance(operand, dict | list):
            return lambda v: _eq(v.get(path), operand)
        op_ms = parse_date_ms(operand)
        if op_ms is not None:
            def eq_date(v: Any) -> bool:
                ms = v.get_ms(path)
                if ms is not None:
                    return ms == op_ms
                return any(_eq(x, operand) for x in _values(v.get(path)))
            return eq_date
        if operand is None:
            def eq_none(v: Any) -> bool:
                val = v.get(path)
                return val is MISSING or val is None or (isinstance(val, list) and None in val)
            return eq_none
        return lambda v: any(_eq(x, operand) for x in _values(v.get(path)))
    if op == "neq":
        inner = _leaf(path, "eq", operand)
        return lambda v: not inner(v)
    if op in ("inq", "nin"):
        if not isinstance(operand, list):
            raise FilterError(f"{op} needs an array")
        hashable = all(isinstance(x, str | int | float | type(None)) and not isinstance(x, bool)
                       for x in operand)
        wanted = frozenset(operand) if hashable else None

        def member(v: Any) -> bool:
            val = v.get(path)
            if val is MISSING:
                val = None
            for x in _values(val):
                if wanted is not None:
                    if isinstance(x, str | int | float | type(None)) and not isinstance(x, bool) \
                            and x in wanted:
                        return True
                elif any(_eq(x, y) for y in operand):
                    return True
            return False
        if op == "inq":
            return member
        return lambda v: not member(v)
    if op in ("gt", "gte", "lt", "lte"):
        return _compare(path, op, operand)
    if op == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            raise FilterError("between needs an array of two values")
        lo, hi = _compare(path, "gte", operand[0]), _compare(path, "lte", operand[1])
        return lambda v: lo(v) and hi(v)
    if op in ("regexp", "like", "nlike"):
        rx = js_regex(operand) if op == "regexp" else _like_regex(operand)

        def matches(v: Any) -> bool:
            return any(isinstance(x, str) and rx.search(x) is not None for x in _values(v.get(path)))
        if op == "nlike":
            return lambda v: not matches(v)
        return matches
    if op == "exists":
        if not isinstance(operand, bool):
            raise FilterError("exists needs true or false")
        return lambda v: (v.get(path) is not MISSING) is operand
    raise FilterError(f"unknown operator {op!r}")  # pragma: no cover - checked by caller


def _compare(path: str, op: str, operand: Any) -> Predicate:
    op_ms = parse_date_ms(operand)
    key = _order_key(operand)
    if op_ms is None and key is None:
        raise FilterError(f"{op} needs a number, a string or a date")
    test = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }[op]
    if op_ms is not None:
        def cmp_date(v: Any) -> bool:
            ms = v.get_ms(path)
            return ms is not None and test(ms, op_ms)
        return cmp_date

    def cmp_plain(v: Any) -> bool:
        for x in _values(v.get(path)):
            k = _order_key(x)
            if k is not None and k[0] == key[0] and test(k[1], key[1]):
                return True
        return False
    return cmp_plain


def compile_where(where: Any, _depth: int = 0) -> Predicate:
    """Compile a LoopBack ``where`` object into a predicate over a view."""
    if _depth > _MAX_DEPTH:
        raise FilterError("filter nested too deeply")
    if where is None:
        return lambda v: True
    if not isinstance(where, dict):
        raise FilterError("where must be an object")
    parts: list[Predicate] = []
    for key, cond in where.items():
        if not isinstance(key, str) or not key:
            raise FilterError("where keys must be non-empty strings")
        if key in ("and", "or"):
            if not isinstance(cond, list):
                raise FilterError(f"{key} needs an array of conditions")
            subs = [compile_where(c, _depth + 1) for c in cond]
            if key == "and":
                parts.append(lambda v, subs=subs: all(s(v) for s in subs))
            else:
                parts.append(lambda v, subs=subs: any(s(v) for s in subs))
            continue
        if isinstance(cond, dict):
            if not cond:
                raise FilterError(f"empty condition for {key!r}")
            for op in cond:
                if op not in _OPERATORS:
                    raise FilterError(f"unknown operator {op!r} for {key!r}")
            # As the real server (LoopBack's MongoDB connector): only the first operator of a
            # condition object applies, {"gte": a, "lte": b} means "gte a"; say both with
            # `between` or an `and`.
            op, operand = next(iter(cond.items()))
            parts.append(_leaf(key, op, operand))
        else:
            parts.append(_leaf(key, "eq", cond))
    if len(parts) == 1:
        return parts[0]
    return lambda v: all(p(v) for p in parts)


def date_bounds(where: Any, path: str = "creationDate") -> tuple[int | None, int | None]:
    """Inclusive epoch-ms bounds on ``path`` implied by the top level (and nested ``and``s).

    Only narrows the scan; the compiled predicate still decides every candidate.
    """
    lo: int | None = None
    hi: int | None = None

    def lower(ms: int | None) -> None:
        nonlocal lo
        if ms is not None:
            lo = ms if lo is None else max(lo, ms)

    def upper(ms: int | None) -> None:
        nonlocal hi
        if ms is not None:
            hi = ms if hi is None else min(hi, ms)

    def walk(w: Any, depth: int) -> None:
        if not isinstance(w, dict) or depth > _MAX_DEPTH:
            return
        cond = w.get(path, MISSING)
        if isinstance(cond, dict):
            for op, operand in list(cond.items())[:1]:  # the first operator only, as above
                if op in ("gt", "gte"):
                    lower(_floor_ms(operand))
                elif op in ("lt", "lte"):
                    upper(_ceil_ms(operand))
                elif op == "between" and isinstance(operand, list) and len(operand) == 2:
                    lower(_floor_ms(operand[0]))
                    upper(_ceil_ms(operand[1]))
                elif op == "eq":
                    lower(_floor_ms(operand))
                    upper(_ceil_ms(operand))
        elif cond is not MISSING:
            lower(_floor_ms(cond))
            upper(_ceil_ms(cond))
        sub = w.get("and")
        if isinstance(sub, list):
            for c in sub:
                walk(c, depth + 1)

    walk(where, 0)
    return lo, hi


def _floor_ms(value: Any) -> int | None:
    ms = parse_date_ms(value)
    return None if ms is None else ms - 1


def _ceil_ms(value: Any) -> int | None:
    ms = parse_date_ms(value)
    return None if ms is None else ms + 1


class ListFilter:
    """A parsed list filter: predicate, order, skip, limit and fields."""

    __slots__ = ("where", "predicate", "descending", "skip", "limit", "fields", "bounds")

    def __init__(self, raw: Any) -> None:
        if raw is None or raw == "":
            raw = {}
        if isinstance(raw, str | bytes):
            try:
                raw = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise FilterError(f"filter is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise FilterError("filter must be a JSON object")
        unknown = set(raw) - {"where", "order", "limit", "skip", "offset", "fields", "include"}
        if unknown:
            raise FilterError(f"unknown filter key(s): {', '.join(sorted(map(str, unknown)))}")
        self.where = raw.get("where") or {}
        self.predicate = compile_where(self.where)
        self.bounds = date_bounds(self.where)
        self.descending = self._order(raw.get("order"))
        self.skip = self._count(raw.get("skip", raw.get("offset")), "skip")
        self.limit = self._count(raw.get("limit"), "limit")
        self.fields = self._fields(raw.get("fields"))

    @staticmethod
    def _order(order: Any) -> bool:
        if order is None:
            return True
        if isinstance(order, str):
            order = order.split(",")
        if not isinstance(order, list) or not 1 <= len(order) <= 2 or \
                not all(isinstance(o, str) for o in order):
            raise FilterError("order must be a string such as 'creationDate DESC'")
        directions = []
        for key, o in zip(("creationDate", "id"), order, strict=False):
            parts = o.split()
            if not parts or parts[0] != key or len(parts) > 2:
                raise FilterError(f"unsupported order {o.strip()!r}; use 'creationDate DESC' "
                                  "or 'creationDate ASC' (ties are ordered by id)")
            direction = parts[1].upper() if len(parts) == 2 else "ASC"
            if direction not in ("ASC", "DESC"):
                raise FilterError(f"unsupported order direction {parts[1]!r}")
            directions.append(direction)
        if len(set(directions)) > 1:
            raise FilterError("the id tie-break follows the creationDate direction")
        return directions[0] == "DESC"

    @staticmethod
    def _count(value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FilterError(f"{name} must be a non-negative integer")
        return value

    @staticmethod
    def _fields(fields: Any) -> tuple[set[str], bool] | None:
        """(names, inclusive) or None for all fields."""
        if fields is None:
            return None
        if isinstance(fields, list):
            if not all(isinstance(f, str) for f in fields):
                raise FilterError("fields must be names")
            return set(fields), True
        if not isinstance(fields, dict) or not all(isinstance(v, bool) for v in fields.values()):
            raise FilterError("fields must be an object of booleans")
        included = {k for k, v in fields.items() if v}
        if included:
            return included, True
        return {k for k, v in fields.items() if not v}, False

    def project(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Apply ``fields`` to one document."""
        if self.fields is None:
            return doc
        names, inclusive = self.fields
        if inclusive:
            return {k: v for k, v in doc.items() if k in names}
        return {k: v for k, v in doc.items() if k not in names}


def filter_docs(docs: list[dict[str, Any]], raw_filter: Any) -> list[dict[str, Any]]:
    """Reference implementation over plain documents (for tests and small lists)."""
    flt = ListFilter(raw_filter)
    matched = [d for d in docs if flt.predicate(DictView(d))]
    matched.sort(key=lambda d: (parse_date_ms(d.get("creationDate")) or 0, d.get("id", "")),
                 reverse=flt.descending)
    start = flt.skip or 0
    end = None if flt.limit in (None, 0) else start + flt.limit
    return [flt.project(d) for d in matched[start:end]]
