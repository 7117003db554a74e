"""What the classroom server accepts: bodies read within a size cap, then checked field by field.

Every refusal is a :class:`BadRequest` with the HTTP status and a sentence that says what was
wrong and what is allowed; nothing a client sends can make the server raise anything else.

>>> check_name("  Ada Lovelace ")
'Ada Lovelace'
>>> check_result({"id": "r1", "exercise": "ch01.embed", "status": "not_implemented", "time": 1},
...              known={"ch01.embed"})["status"]
'todo'
>>> try:
...     check_files({"../etc/passwd": "x"})
... except BadRequest as refusal:
...     print(refusal.status, refusal.message[:44])
422 '../etc/passwd' is not an exercise file name
"""

from __future__ import annotations

import json
import math
import re

MAX_BODY = 64 * 1024  # results, join
MAX_UPLOAD = 5 * 1024 * 1024  # a submission's files, all together
MAX_RESULTS = 100  # per request
MAX_NAME = 80
STATUSES = ("pass", "fail", "error", "todo")
# The grader's statuses (minigpt.grading.check.STATUSES) as the room shows them.
STATUS_ALIASES = {"not_implemented": "todo", "timeout": "error", "memory": "error", "crash": "error"}
LIMITS = {"id": 128, "diagnosis_id": 200, "diagnosis": 2000}
FILE_NAME = re.compile(r"ch[0-9][0-9]_[A-Za-z0-9_]+\.py")


class BadRequest(Exception):
    """A refusal: ``status`` (400, 413, 422, ...) and the message sent back as ``{"error": message}``."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(f"{status}: {message}")
        self.status, self.message, self.extra = status, message, extra


async def read_json(request, limit: int) -> dict:
    """The request's body parsed as a JSON object, refusing more than ``limit`` bytes before reading them."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise BadRequest(413, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted here")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is over {limit:,} bytes, the most accepted here")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise BadRequest(400, f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"the body must be a JSON object, not {type(body).__name__}")
    try:  # a lone surrogate ("\\ud800") is valid JSON but no text: refuse it here, not in SQLite
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(400, "the body holds a lone UTF-16 surrogate (\\udXXX), which is not text") from None
    return body


def check_name(name) -> str:
    """A learner's name: any text of 1 to 80 characters (kept as text: shown, never run or parsed)."""
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(422, 'give your name as {"name": "..."} (1 to 80 characters)')
    name = " ".join(name.split())
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise BadRequest(422, f"a name has 1 to {MAX_NAME} printable characters; this one has {len(name)}")
    return name


def _text_or_none(r: dict, key: str) -> str | None:
    value = r.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > LIMITS[key]):
        raise ValueError(f"{key!r} must be text of at most {LIMITS[key]} characters, or null")
    return value


def check_result(r, known: set[str]) -> dict:
    """One result, its status in :data:`STATUSES`; raises ValueError saying which field is wrong."""
    if not isinstance(r, dict):
        raise ValueError(f"a result is an object, not {type(r).__name__}")
    rid = r.get("id")
    if not isinstance(rid, str) or not 1 <= len(rid) <= LIMITS["id"]:
        raise ValueError(f"'id' must be text of 1 to {LIMITS['id']} characters (the client's unique id)")
    exercise = r.get("exercise")
    if not isinstance(exercise, str) or exercise not in known:
        raise ValueError(f"unknown exercise id {str(exercise)[:80]!r} (ids look like ch01.layer_norm: "
                         "`minigpt exercises list` shows them)")
    status = STATUS_ALIASES.get(r.get("status"), r.get("status"))
    if status not in STATUSES:
        raise ValueError(f"status {str(r.get('status'))[:40]!r} is not one of {', '.join(STATUSES)}")
    t = r.get("time")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ValueError("'time' must be a number (unix seconds)")
    return {"id": rid, "exercise": exercise, "status": status, "diagnosis_id": _text_or_none(r, "diagnosis_id"),
            "diagnosis": _text_or_none(r, "diagnosis"), "time": float(t)}


def check_results(body: dict, known: set[str]) -> list[dict]:
    """The ``results`` of a POST /api/results body; any bad one refuses the whole request (422, each listed)."""
    results = body.get("results")
    if not isinstance(results, list) or not results:
        raise BadRequest(422, 'send {"results": [ ... ]}: a non-empty list of results')
    if len(results) > MAX_RESULTS:
        raise BadRequest(413, f"{len(results)} results in one request; send at most {MAX_RESULTS} at a time")
    good, rejected = [], []
    for index, r in enumerate(results):
        try:
            good.append(check_result(r, known))
        except ValueError as exc:
            rid = r.get("id") if isinstance(r, dict) and isinstance(r.get("id"), str) else None
            rejected.append({"index": index, "id": rid, "error": str(exc)})
    if rejected:
        first = rejected[0]
        raise BadRequest(422, f"{len(rejected)} of {len(results)} results were refused and none was stored; "
                         f"the first (#{first['index']}): {first['error']}", rejected=rejected)
    return good


def check_files(files) -> dict[str, str]:
    """A submission's ``{"chNN_name.py": source}``: plain names only, text, 5 MB in all."""
    if not isinstance(files, dict) or not files:
        raise BadRequest(422, 'send {"files": {"ch01_transformer.py": "<source>", ...}}')
    total = 0
    for name, source in files.items():
        if not FILE_NAME.fullmatch(name):
            raise BadRequest(422, f"{name[:100]!r} is not an exercise file name: files are named like "
                             "ch01_transformer.py (chNN_name.py, no folders)")
        if not isinstance(source, str):
            raise BadRequest(422, f"{name}: the source must be text")
        total += len(source.encode("utf-8"))
    if total > MAX_UPLOAD:
        raise BadRequest(413, f"the files hold {total:,} bytes; at most {MAX_UPLOAD:,} are accepted")
    return files
