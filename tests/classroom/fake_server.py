"""A tiny classroom server for the client's tests: the HTTP contract of minigpt.classroom.server, in memory.

It runs ``http.server`` on 127.0.0.1 (a free port) in a thread, keeps every request it got, and
can be told to refuse (``refuse = 503``), to reject an exercise id (``unknown``) or to go silent:
:func:`silent_server` accepts connections and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeClassroom:
    def __init__(self, code: str = "ROOM42"):
        self.code = code
        self.learners: dict[str, dict] = {}  # secret -> {"learner_id", "name"}
        self.results: dict[str, dict] = {}  # result id -> the posted result, with its learner
        self.posts: list[list[dict]] = []  # every accepted batch, as posted
        self.bodies: list[bytes] = []  # every request body, raw
        self.submissions: dict[str, dict] = {}
        self.refuse: int | None = None  # answer every /api/results with this status
        self.unknown: set[str] = set()  # exercise ids answered with 422 (nothing of the batch is stored)
        self.name_rejected = True  # whether a 422 lists the rejected results
        self.lock = threading.Lock()
        self.port = 0  # a free one on the first start, the same one on a restart
        self.httpd: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def join_url(self) -> str:
        return f"{self.base}/join/{self.code}"

    def start(self) -> FakeClassroom:
        """Listen (again, on the same port after a stop: the server came back) and answer in a thread."""
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused (the server is down)."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def _handler(room: FakeClassroom):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _learner(self):
            secret = self.headers.get("Authorization", "").removeprefix("Bearer ")
            return room.learners.get(secret)

        def _body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            room.bodies.append(raw)
            return json.loads(raw or b"null")

        def do_POST(self):
            body = self._body()
            if self.path == f"/api/join/{room.code}":
                secret, learner = uuid.uuid4().hex, {"learner_id": uuid.uuid4().hex[:8], "name": body["name"]}
                room.learners[secret] = learner
                return self._reply(201, {"learner_id": learner["learner_id"], "secret": secret, "room": room.code})
            if self.path.startswith("/api/join/"):
                return self._reply(404, {"error": "no such room"})
            learner = self._learner()
            if learner is None:
                return self._reply(401, {"error": "no or wrong secret"})
            if self.path == "/api/results":
                if room.refuse:
                    return self._reply(room.refuse, {"error": "refused for the test"})
                results = body["results"]
                bad = [{"index": i, "id": r["id"], "error": f"unknown exercise id {r['exercise']}"}
                       for i, r in enumerate(results) if r["exercise"] in room.unknown]
                if bad:
                    named = bad if room.name_rejected else []
                    return self._reply(422, {"error": f"{len(bad)} results rejected", "rejected": named})
                with room.lock:
                    new = [r for r in results if r["id"] not in room.results]
                    room.results.update({r["id"]: {**r, "learner": learner["learner_id"]} for r in new})
                    room.posts.append(results)
                return self._reply(200, {"stored": len(new), "acked": [r["id"] for r in results]})
            if self.path == "/api/submit":
                sid = uuid.uuid4().hex[:10]
                room.submissions[sid] = {"files": body["files"], "polls": 0, "learner": learner["learner_id"]}
                return self._reply(202, {"submission_id": sid})
            self._reply(404, {"error": "not found"})

        def do_GET(self):
            learner = self._learner()
            if learner is None:
                return self._reply(401, {"error": "no or wrong secret"})
            if self.path.startswith("/api/submission/"):
                sub = room.submissions.get(self.path.rsplit("/", 1)[1])
                if sub is None:
                    return self._reply(404, {"error": "no such submission"})
                sub["polls"] += 1  # graded on the second look
                done = sub["polls"] >= 2
                return self._reply(200, {"status": "done" if done else "queued", "score": 3.0 if done else None,
                                         "max_score": 5.0, "results": []})
            self._reply(404, {"error": "not found"})

    return Handler


@contextmanager
def fake_classroom():
    room = FakeClassroom().start()
    try:
        yield room
    finally:
        room.stop()


@contextmanager
def silent_server():
    """A port that accepts connections and never answers: the hung server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def free_port() -> int:
    """A loopback port nothing listens on (the server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
