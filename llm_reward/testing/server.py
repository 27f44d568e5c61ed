"""A tiny OpenAI-compatible chat server for tests and docs, with scripted answers and injected faults.

It serves ``POST /v1/chat/completions`` (and ``GET /v1/models``) on 127.0.0.1 at an ephemeral port, from a
thread of the calling process, so the real ``openai`` client can be driven over loopback::

    with ScriptedChatServer(["def compute_reward(s): ..."], faults={1: "429", 2: "timeout"}) as server:
        backend = OpenAIBackend("scripted", base_url=server.url, api_key_env=None, timeout_s=0.5)
        backend.generate(messages, n=3, tag="demo")
        server.requests[-1].body["n"]  # 3

Request numbers are 1-based and count chat-completion requests only (faulted ones included). Faults:

* ``"400"``, ``"401"``: a request error, an authentication error (not worth retrying);
* ``"429"``: 429 with ``Retry-After`` (seconds, :attr:`Fault.retry_after`, default 0);
* ``"500"``: 500 with an OpenAI-style error body;
* ``"503"``: 503, with ``Retry-After`` when :attr:`Fault.retry_after` is set;
* ``"timeout"``: waits :attr:`Fault.delay_s` (longer than the client's timeout), then answers;
* ``"malformed"``: 200, ``Content-Type: application/json``, a body that is not JSON;
* ``"non_json"``: 200, ``Content-Type: text/html``, a proxy-style error page;
* ``"empty_choices"``: 200 with ``"choices": []``;
* ``"null_content"``: 200 with every choice's ``message.content`` null;
* ``"no_usage"``: 200, a normal answer without the ``usage`` field.

Faulted requests do not use up the scripted responses (``no_usage`` does: it is a real answer).

Bounded: request bodies over ``max_body_bytes`` get 413, delays end as soon as the server stops, handler threads
are daemons, and :meth:`ScriptedChatServer.stop` returns within about a second.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULT_KINDS", "Fault", "RecordedRequest", "ScriptedChatServer"]

FAULT_KINDS: tuple[str, ...] = (
    "400",
    "401",
    "429",
    "500",
    "503",
    "timeout",
    "malformed",
    "non_json",
    "empty_choices",
    "null_content",
    "no_usage",
)

Responder = Callable[[dict], "str | Sequence[str]"]


@dataclass(frozen=True)
class Fault:
    """One injected failure. ``retry_after`` (seconds) is sent as ``Retry-After`` for 429/503."""

    kind: str
    retry_after: float | None = None
    delay_s: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")


@dataclass
class RecordedRequest:
    """What the server received: request number (1-based), path, parsed JSON body, headers, injected fault."""

    number: int
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    fault: str | None = None
    received_at: float = field(default_factory=time.monotonic)


def _words(text: Any) -> int:
    if isinstance(text, list):  # multi-part content
        text = " ".join(str(p.get("text", "")) for p in text if isinstance(p, dict))
    return len(str(text or "").split())


class ScriptedChatServer:
    """An OpenAI-compatible HTTP server answering from a script.

    Args:
        responses: a list of texts handed out one per choice, in order, cycling; or a callable of the request body
            (a dict) returning one text (used for every choice) or a list of texts (the choices, as many as given).
        faults: request number (1-based) -> fault kind or :class:`Fault`.
        honour_n: when False the server ignores ``n`` and returns one choice (as Ollama does).
        reject_n: when True a request with ``n != 1`` gets 400 "Only one completion choice is allowed" (llama.cpp).
        max_choices: cap on choices per response (a server that honours ``n`` only partly).
        model: the model name reported back; default echoes the request's model.
        max_body_bytes: larger request bodies get 413.

    Usage reported: ``prompt_tokens`` = whitespace-separated words over all message contents (at least 1),
    ``completion_tokens`` = the sum over choices of words per text (at least 1 each).
    """

    def __init__(
        self,
        responses: Sequence[str] | Responder = ("ok",),
        *,
        faults: Mapping[int, str | Fault] | None = None,
        honour_n: bool = True,
        reject_n: bool = False,
        max_choices: int | None = None,
        model: str | None = None,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        if not callable(responses) and not responses:
            raise ValueError("responses must be a non-empty list of texts or a callable")
        self.responses = responses
        self.faults = {int(k): (v if isinstance(v, Fault) else Fault(str(v))) for k, v in (faults or {}).items()}
        self.honour_n = honour_n
        self.reject_n = reject_n
        self.max_choices = max_choices
        self.model = model
        self.max_body_bytes = max_body_bytes
        self.requests: list[RecordedRequest] = []
        self._cursor = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> ScriptedChatServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        handler = type("_Handler", (_Handler,), {"owner": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        httpd.handle_error = lambda request, client_address: None  # clients that time out close their socket
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-chat-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes delayed handlers. Idempotent."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens (or, once stopped, listened) on."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        """The ``base_url`` for an OpenAI client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # answering -------------------------------------------------------------------------------------------

    def _texts(self, body: dict, consume: bool) -> list[str]:
        n = body.get("n") or 1
        wanted = int(n) if self.honour_n else 1
        if self.max_choices is not None:
            wanted = min(wanted, self.max_choices)
        if not consume:  # faulted answers do not use up the script
            texts = ["(injected fault)"] * wanted
        elif callable(self.responses):
            out = self.responses(body)
            texts = [out] * wanted if isinstance(out, str) else list(out)
        else:
            with self._lock:
                texts = [self.responses[(self._cursor + i) % len(self.responses)] for i in range(wanted)]
                self._cursor += wanted
        if self.max_choices is not None:
            texts = texts[: self.max_choices]
        return texts

    def completion_body(self, body: dict, number: int, *, consume: bool = True) -> dict[str, Any]:
        """The JSON answer to a chat request; ``consume=False`` leaves the scripted responses untouched."""
        texts = self._texts(body, consume)
        messages = body.get("messages") or []
        prompt_tokens = max(1, sum(_words(m.get("content")) for m in messages if isinstance(m, dict)))
        completion_tokens = sum(max(1, _words(t)) for t in texts)
        return {
            "id": f"chatcmpl-scripted-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model or body.get("model") or "scripted",
            "system_fingerprint": "fp_scripted",
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
                for i, text in enumerate(texts)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedChatServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a silent client may hold a handler thread

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, status: int, payload: bytes, content_type: str = "application/json", headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _error(self, status: int, message: str, kind: str, headers=None) -> None:
        payload = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})
        self._send(status, payload.encode(), headers=headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = self.owner.model or "scripted"
            body = {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "rewardlab"}]}
            self._send(200, json.dumps(body).encode())
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        owner = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length > owner.max_body_bytes:
            self.close_connection = True
            self._error(413, f"request body over {owner.max_body_bytes} bytes", "invalid_request_error")
            return
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with owner._lock:
            number = len(owner.chat_requests) + 1
            fault = owner.faults.get(number)
            owner.requests.append(
                RecordedRequest(
                    number=number,
                    path=self.path,
                    body=body if isinstance(body, dict) else None,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    fault=fault.kind if fault else None,
                )
            )
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._error(400, "body must be a JSON object with a 'messages' list", "invalid_request_error")
            return
        if fault is None and owner.reject_n and body.get("n", 1) != 1:
            self._error(400, "Only one completion choice is allowed", "invalid_request_error")
            return
        if fault is None:
            self._send(200, json.dumps(owner.completion_body(body, number)).encode())
            return
        retry = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        kind = fault.kind
        if kind == "400":
            self._error(400, "Invalid request (injected)", "invalid_request_error")
        elif kind == "401":
            self._error(401, "Incorrect API key provided (injected)", "invalid_api_key")
        elif kind == "429":
            self._error(429, "Rate limit reached (injected)", "rate_limit_exceeded", retry or {"Retry-After": "0"})
        elif kind == "500":
            self._error(500, "The server had an error (injected)", "server_error")
        elif kind == "503":
            self._error(503, "The engine is overloaded (injected)", "server_error", retry)
        elif kind == "timeout":
            owner._stopping.wait(fault.delay_s)
            self._send(200, json.dumps(owner.completion_body(body, number, consume=False)).encode())
        elif kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
        elif kind == "non_json":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        else:
            payload = owner.completion_body(body, number, consume=kind == "no_usage")
            if kind == "empty_choices":
                payload["choices"] = []
            elif kind == "null_content":
                for choice in payload["choices"]:
                    choice["message"]["content"] = None
            elif kind == "no_usage":
                del payload["usage"]
            self._send(200, json.dumps(payload).encode())
