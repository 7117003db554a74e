"""The classroom's HTTP API: who is asking (a learner's secret, the instructor's key), and each route.

The routes, the rules they keep and the replies are listed in :mod:`minigpt.classroom.server`.
Every refusal raises :class:`~minigpt.classroom.bodies.BadRequest`, which the app turns into
``{"error": "..."}`` with its status (429 with ``Retry-After``).
"""

from __future__ import annotations

import hmac
import html
import json
import time
from dataclasses import dataclass
from importlib import resources

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..grading import all_exercises
from ..grading.grade import select_exercises
from ..grading.sandbox import Limits
from . import bodies
from .bodies import BadRequest, check_files, check_name, check_results, read_json
from .export import FORMATS, export
from .grading_pool import GradingPool
from .rate_limit import RateLimiter
from .room_view import live_csv, room_data
from .store import Store

POLL_S = 2.0  # the page asks for /api/room this often
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# The page's files: its own, and the viewers' shared helpers (elements, the tooltip) and style.
ASSETS = {"room.html": ("minigpt.classroom", "page"), "room.js": ("minigpt.classroom", "page"),
          "room.css": ("minigpt.classroom", "page"), "ui.js": ("minigpt.viz", "assets"),
          "viewer.css": ("minigpt.viz", "assets")}
MEDIA = {".css": "text/css", ".js": "text/javascript"}


@dataclass
class Settings:
    """How one server runs; the defaults are a workshop's."""

    workers: int | None = None  # sandboxes grading at once (None: as `minigpt grade`, the CPUs, at most 4)
    exercises: list[str] | None = None  # ids or chapter prefixes graded and shown (None: all)
    timeout_s: float | None = None  # per exercise in the sandbox (None: the exercise's own)
    budget_s: float = 300.0  # per submission, all its exercises together
    rate: float = 20.0  # requests per second per learner ...
    burst: int = 40  # ... and how many may come at once
    join_rate: float = 20.0  # joins per second per client address ...
    join_burst: int = 500  # ... and at once (a whole room joins in the first minute)
    durable: bool = False  # fsync every commit (survives a power cut; a killed process needs no fsync)


def json_reply(data, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(data, status, headers={**HEADERS, **(headers or {})})


def html_reply(text: str, status: int = 200) -> Response:
    return Response(text, status, media_type="text/html; charset=utf-8",
                    headers={**HEADERS, "Content-Security-Policy": CSP})


def _asset(name: str) -> str:
    package, folder = ASSETS[name]
    return resources.files(package).joinpath(folder, name).read_text(encoding="utf-8")


class Classroom:
    """The app's state: the store, the known exercises, the rate limits, the grading pool."""

    def __init__(self, db_path, settings: Settings):
        self.settings = settings
        self.store = Store(db_path, durable=settings.durable)
        self.known = {ex.id for ex in all_exercises()}
        chosen = select_exercises(".", settings.exercises) if settings.exercises else all_exercises()
        self.exercises = [ex.id for ex in chosen]
        self.titles = {ex.id: ex.title for ex in all_exercises()}
        self.learner_limit = RateLimiter(settings.rate, settings.burst)
        self.join_limit = RateLimiter(settings.join_rate, settings.join_burst)
        self.pool = GradingPool(self.store, settings.workers, settings.exercises,
                                Limits(timeout_s=settings.timeout_s), settings.budget_s)
        self.boot = f"{time.time():.0f}"
        self._room_cache: tuple[int, dict] | None = None

    # ------------------------------------------------------------ who is asking

    def learner(self, request: Request):
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise BadRequest(401, "send your secret as 'Authorization: Bearer SECRET' (join the room first: "
                             "minigpt classroom join URL --name NAME)")
        learner = self.store.learner_by_secret(auth[7:].strip())
        if learner is None:
            raise BadRequest(403, "this secret belongs to no learner of this room: join it again "
                             "(minigpt classroom join URL --name NAME)")
        self.limit(self.learner_limit, learner.id)
        return learner

    def instructor(self, request: Request) -> None:
        key = request.query_params.get("key", "")
        if not key:
            raise BadRequest(401, "this needs the instructor key: open the 'instructor:' URL the server printed "
                             "(.../room/CODE?key=KEY)")
        if not hmac.compare_digest(key.encode(), self.store.key.encode()):
            raise BadRequest(403, "wrong instructor key: copy the 'instructor:' URL the server printed")

    @staticmethod
    def limit(limiter: RateLimiter, who: str) -> None:
        wait = limiter.wait(who)
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise BadRequest(429, f"too many requests: wait {seconds} s", retry_after=seconds)

    def room(self) -> dict:
        """The page's data, computed once per change of the store."""
        version = self.store.version
        if self._room_cache is None or self._room_cache[0] != version:
            data = room_data(self.store, self.exercises, self.titles, show_all=bool(self.settings.exercises))
            self._room_cache = (version, {**data, "version": f"{self.boot}-{version}", "poll_s": POLL_S})
        return self._room_cache[1]


# ---------------------------------------------------------------- learners


async def join_page(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    if not hmac.compare_digest(request.path_params["code"].encode(), room.store.code.encode()):
        return html_reply("<!DOCTYPE html><title>No such room</title><p>There is no room with this code.", 404)
    url = html.escape(str(request.url.replace(query="", fragment="")))
    return html_reply(f"""<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>Join the room</title>
<link rel="stylesheet" href="/static/room.css"><body class="mg-join"><h1>Join this minigpt room</h1>
<p>In your course workspace (the folder <code>minigpt start</code> made), run:</p>
<pre>minigpt classroom join {url} --name "YOUR NAME"</pre>
<p>From then on, every <code>check()</code> and <code>minigpt grade</code> tells your instructor which exercises
pass and which mistake the checker found (never your code). <code>minigpt classroom leave</code> stops it;
<code>minigpt classroom submit</code> hands in your exercise files.</p></body></html>""")


async def join(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    room.limit(room.join_limit, request.client.host if request.client else "?")
    if not hmac.compare_digest(request.path_params["code"].encode(), room.store.code.encode()):
        raise BadRequest(404, "there is no room with this code here: check the join URL your instructor gave")
    name = check_name((await read_json(request, bodies.MAX_BODY)).get("name"))
    learner = room.store.add_learner(name)
    return json_reply({"learner_id": learner.id, "secret": learner.secret, "room": room.store.code}, 201)


async def post_results(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    learner = room.learner(request)
    results = check_results(await read_json(request, bodies.MAX_BODY), room.known)
    stored = room.store.add_results(learner.id, results)
    return json_reply({"stored": stored, "acked": [r["id"] for r in results]})


async def me(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    learner = room.learner(request)
    return json_reply({"learner_id": learner.id, "name": learner.name, "room": room.store.code,
                       "results": room.store.results_of(learner.id)})


async def submit(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    learner = room.learner(request)
    files = check_files((await read_json(request, bodies.MAX_UPLOAD)).get("files"))
    exercise_files = {ex.file for ex in all_exercises()}
    if not exercise_files & set(files):
        raise BadRequest(422, f"none of {', '.join(sorted(files)[:5])} is an exercise file; they are: "
                         f"{', '.join(sorted(exercise_files))}")
    sid = room.store.add_submission(learner.id, files)
    if sid is None:
        raise BadRequest(429, "your previous submission is still being graded: wait for it "
                         "(minigpt classroom submit shows its grade), then submit again", retry_after=10)
    room.pool.submit(sid)
    return json_reply({"submission_id": sid, "status": "queued"}, 202)


async def submission(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    learner = room.learner(request)
    row = room.store.submission(request.path_params["sid"], learner.id)
    if row is None:
        raise BadRequest(404, "you have no submission with this id")
    record = json.loads(row["record"]) if row["record"] else {}
    exercises = [{k: e.get(k) for k in ("id", "status", "score", "max_score", "message", "diagnosis")}
                 for e in record.get("exercises", [])] or None
    return json_reply({"submission_id": row["id"], "status": row["status"], "score": record.get("score"),
                       "max_score": record.get("max_score"), "results": exercises, "error": record.get("error"),
                       "created": row["created"], "finished": row["finished"]})


# ---------------------------------------------------------------- the instructor


async def room_page(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    room.instructor(request)
    if request.path_params["code"] != room.store.code:
        raise BadRequest(404, "there is no room with this code here")
    return html_reply(_asset("room.html"))


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    media = MEDIA.get(name[name.rfind("."):])
    if name not in ASSETS or media is None:
        return Response("not found", 404)
    return Response(_asset(name), media_type=f"{media}; charset=utf-8", headers=HEADERS)


async def summary(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    room.instructor(request)
    return json_reply(room.room()["summary"])


async def room_json(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    room.instructor(request)
    data = room.room()
    if request.query_params.get("since") == data["version"]:
        return json_reply({"version": data["version"], "unchanged": True})
    return json_reply(data)


async def export_files(request: Request) -> Response:
    room: Classroom = request.app.state.classroom
    room.instructor(request)
    fmt = request.query_params.get("format", "csv")
    if fmt == "live":
        content, media_type, filename = live_csv(room.room()).encode(), "text/csv; charset=utf-8", "room.csv"
    elif fmt in FORMATS:
        content, media_type, filename = await run_in_threadpool(export, room.store, fmt)
    else:
        raise BadRequest(422, f"format {fmt[:40]!r} is not one of {', '.join([*FORMATS, 'live'])}")
    return Response(content, media_type=media_type,
                    headers={**HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


async def refused(request: Request, exc: BadRequest) -> Response:
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return json_reply({"error": exc.message, **exc.extra}, exc.status, headers)


ROUTES = [Route("/join/{code}", join_page), Route("/api/join/{code}", join, methods=["POST"]),
          Route("/api/results", post_results, methods=["POST"]), Route("/api/me", me),
          Route("/api/submit", submit, methods=["POST"]), Route("/api/submission/{sid}", submission),
          Route("/room/{code}", room_page), Route("/static/{name}", asset), Route("/api/summary", summary),
          Route("/api/room", room_json), Route("/api/export", export_files)]
