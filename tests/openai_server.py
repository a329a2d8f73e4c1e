"""A real OpenAI-compatible chat-completions server for tests (not a mock).

It listens on 127.0.0.1 (a free port) with the stdlib ``ThreadingHTTPServer``
in a background thread and speaks what our backend and the official SDK use:

* ``POST /v1/chat/completions`` -> the OpenAI JSON shape (id, object, created,
  model, choices[{index, message{role, content}, finish_reason}], usage);
* ``GET /v1/models`` -> one model.

What the completions say is up to the test: ``respond(request_json)`` returns
the completion texts for one request (a server that ignores ``n`` is a
``respond`` that returns fewer), or an :class:`Answer` that also sets each
choice's token count and finish reason, the prompt's token count, or leaves
usage out. Plain texts are counted in words: ``usage.prompt_tokens`` is the
words of all the request's message contents, ``usage.completion_tokens`` the
words of all choices together (the OpenAI convention: the prompt once, the
choices summed). Faults are queued with :meth:`add_faults` and
consumed by the next requests in arrival order: answer an HTTP status (429
with a Retry-After header, 500, ...) or hang past the client's timeout; or
``respond`` raises :class:`ServerError` to fail the requests it chooses.
Every request is recorded in :attr:`requests` for assertions.

    with OpenAIServer(lambda req: ["hi"] * req.get("n", 1)) as server:
        server.add_faults(Fault(status=429, retry_after="0.05"), count=2)
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Choice:
    """One choice of an :class:`Answer`."""

    text: str
    completion_tokens: int | None = None  # what usage counts for it; None = its words
    finish_reason: str | None = "stop"  # None: the choice carries no finish_reason


@dataclass(frozen=True)
class Answer:
    """What ``respond`` returns when the test sets token counts or finish reasons."""

    choices: list[Choice]
    prompt_tokens: int | None = None  # usage.prompt_tokens; None = words of the messages
    usage: bool = True  # False: the response has no usage object


Respond = Callable[[dict[str, Any]], list[str] | Answer]


@dataclass(frozen=True)
class Fault:
    """What to do with one request instead of answering it normally."""

    status: int | None = None  # answer this HTTP status with an OpenAI error body
    retry_after: str | None = None  # Retry-After header value sent with `status`
    message: str = "injected fault"  # the error body's message
    hang_s: float = 0.0  # sleep this long first (set it past the client's timeout)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any] | None
    fault: Fault | None  # the queued fault this request got, None if none
    at: float  # time.monotonic() on arrival


class ServerError(Exception):
    """Raised by ``respond`` to answer this request with an HTTP error (e.g. one bad prompt)."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.fault = Fault(status=status, retry_after=retry_after, message=message)


class OpenAIServer:
    """Context manager running the server; ``base_url`` ends in ``/v1``."""

    def __init__(self, respond: Respond, model: str = "test-model") -> None:
        self.respond = respond
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> OpenAIServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # wakes hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # ---------------------------------------------------------------- state
    def add_faults(self, fault: Fault, count: int = 1) -> None:
        """The next `count` requests (after those already queued) get `fault`."""
        with self._lock:
            self._faults.extend([fault] * count)

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        """Recorded POSTs to /v1/chat/completions, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    server_state: OpenAIServer  # set on the subclass made in start()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        state = self.server_state
        state._record(
            RecordedRequest("GET", self.path, self._headers(), None, None, time.monotonic())
        )
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, _error("not found", "invalid_request_error"))
            return
        model = {"id": state.model, "object": "model", "created": 0, "owned_by": "test"}
        self._send_json(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        state = self.server_state
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            body = None
        fault = state._next_fault() if self.path.endswith("/chat/completions") else None
        state._record(
            RecordedRequest("POST", self.path, self._headers(), body, fault, time.monotonic())
        )

        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error("not found", "invalid_request_error"))
            return
        if body is None:
            self._send_json(400, _error("body is not JSON", "invalid_request_error"))
            return
        if fault is not None:
            if fault.hang_s and state._closing.wait(fault.hang_s):
                return  # server is shutting down
            if fault.status is not None:
                self._send_fault(fault)
                return
        try:
            answer = state.respond(body)
        except ServerError as err:
            self._send_fault(err.fault)
            return
        except Exception as err:  # a broken respond() is a 500 the test can see
            self._send_json(500, _error(f"respond() raised {err!r}", "server_error"))
            return
        if not isinstance(answer, Answer):
            answer = Answer([Choice(text) for text in answer])
        self._send_json(200, _completion(body, body.get("model") or state.model, answer))

    def _send_fault(self, fault: Fault) -> None:
        assert fault.status is not None
        headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
        self._send_json(fault.status, _error(fault.message, "server_error"), headers)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out) before we answered


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _words(text: str) -> int:
    return len(text.split())


def _completion(request: dict[str, Any], model: str, answer: Answer) -> dict[str, Any]:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": choice.text},
            "finish_reason": choice.finish_reason,
        }
        for i, choice in enumerate(answer.choices)
    ]
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    if answer.usage:
        prompt = answer.prompt_tokens
        if prompt is None:
            prompt = sum(_words(str(m.get("content", ""))) for m in request.get("messages", []))
        completion = sum(
            _words(c.text) if c.completion_tokens is None else c.completion_tokens
            for c in answer.choices
        )
        payload["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return payload


def _echo_n(request: dict[str, Any]) -> list[str]:
    return ["ok"] * int(request.get("n") or 1)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started server; set ``openai_server.respond`` in the test (default: n x "ok")."""
    with OpenAIServer(_echo_n) as server:
        yield server
