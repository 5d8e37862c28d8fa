"""Lambda Runtime API for Cutover's local AWS emulator (scripts/emulator.py).

A *runtime-backed* function is a Lambda function in moto whose invokes are run
by a real function binary instead of moto's fake execution: the binary (built
with the `lambda_runtime` crate, or any custom runtime) polls this emulator's
implementation of the Lambda Runtime API, exactly as it polls AWS's:

    GET  /2018-06-01/runtime/invocation/next              -> the next event
    POST /2018-06-01/runtime/invocation/{requestId}/response
    POST /2018-06-01/runtime/invocation/{requestId}/error
    POST /2018-06-01/runtime/init/error

`lambda_runtime` takes the API's address from AWS_LAMBDA_RUNTIME_API as a bare
`host:port` (no path prefix), so every registered function gets its own
listening socket on the emulator's host, and its own queue: one binary per
function polls only that function's events.

This module is standard library only; emulator.py wires it into moto (its
Invoke, the Lambda backend's internal invokes, EventBridge targets, Step
Functions Task states) and into the admin endpoint `/_cutover/runtime`.

Semantics, as AWS's where it matters to a test:
  - `next` blocks until an event is queued (AWS: until there is one). The
    event is only handed to a poller whose connection is still open, so a
    binary killed while it waits in `next` does not swallow the next event
    (a new binary started later gets it).
  - Response headers of `next`: Lambda-Runtime-Aws-Request-Id,
    Lambda-Runtime-Deadline-Ms (epoch ms), Lambda-Runtime-Invoked-Function-Arn
    (the ARN as invoked, qualifier included), Lambda-Runtime-Trace-Id.
  - A synchronous invoke waits for the binary's response or error until the
    invoke timeout: by default max(the function's configured Timeout, 60 s)
    (moto's default Timeout is 3 s: too short for a first invoke of a binary
    that is still starting), or the function's registered
    `invokeTimeoutSeconds`. Then it fails with
    {"errorType": "Sandbox.Timedout", ...}; the event is withdrawn if no
    binary took it, and a late answer is refused (HTTP 400 to the binary).
  - An error posted to /init/error is remembered: until a binary polls `next`
    again, every synchronous invoke fails at once with that error as payload
    (AWS fails invokes with Runtime.InitError / ExitError while the function
    cannot initialise), rather than waiting out the timeout.
  - Asynchronous (Event) invokes are queued until a binary takes them; their
    results are dropped (AWS has no retry or destination here).
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import select
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

API = "/2018-06-01/runtime"
RESULT_PATH = re.compile(re.escape(API) + r"/invocation/([^/]+)/(response|error)")

# An invoke waits at least this long for the binary (see the module docstring).
MIN_INVOKE_TIMEOUT_SECONDS = 60

# How often a waiting `next` checks that its poller is still connected.
POLL_SECONDS = 0.25


def timed_out_payload(request_id: str, seconds: float) -> bytes:
    return json.dumps(
        {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
        }
    ).encode()


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class Invocation:
    def __init__(self, payload: bytes, invoked_arn: str, sync: bool, timeout: float) -> None:
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.invoked_arn = invoked_arn
        self.sync = sync
        self.timeout = timeout
        self.deadline = time.time() + timeout
        self.trace_id = trace_id()
        self.done = threading.Event()
        self.result = b""
        self.error = False


class RuntimeFunction:
    """One runtime-backed function: its queue and its Runtime API listener."""

    def __init__(self, name: str, host: str, invoke_timeout: float | None = None, verbose: bool = False) -> None:
        self.name = name
        self.invoke_timeout = invoke_timeout
        self.cond = threading.Condition()
        self.queue: collections.deque[Invocation] = collections.deque()
        self.running: dict[str, Invocation] = {}
        self.init_error: bytes | None = None
        self.pollers = 0
        self.counts = collections.Counter(
            {k: 0 for k in ("invocations", "events", "responses", "errors", "timeouts", "initErrors")}
        )
        handler = type("RuntimeApiHandler", (RuntimeApiHandler,), {"runtime": self, "verbose": verbose})
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name=f"runtime-api-{name}", daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def timeout_for(self, configured: Any) -> float:
        if self.invoke_timeout is not None:
            return float(self.invoke_timeout)
        try:
            configured = float(configured or 0)
        except (TypeError, ValueError):
            configured = 0.0
        return max(configured, MIN_INVOKE_TIMEOUT_SECONDS)

    def describe(self) -> dict[str, Any]:
        with self.cond:
            return {
                "functionName": self.name,
                "runtimeApi": self.address,
                "invokeTimeoutSeconds": self.invoke_timeout,
                "queued": len(self.queue),
                "running": len(self.running),
                "pollers": self.pollers,
                "initError": self.init_error.decode("utf-8", "replace") if self.init_error is not None else None,
                **self.counts,
            }

    # -- the invoking side --------------------------------------------------

    def invoke(self, payload: bytes, invoked_arn: str, sync: bool, timeout: float) -> Invocation:
        """Queue one invocation; for a synchronous one, wait for its outcome
        (at most `timeout` seconds). The returned invocation says what
        happened: `result` (bytes) and `error` (a function error)."""
        inv = Invocation(payload or b"{}", invoked_arn, sync, timeout)
        with self.cond:
            self.counts["invocations" if sync else "events"] += 1
            if sync and self.init_error is not None:
                inv.result, inv.error = self.init_error, True
                self.counts["errors"] += 1
                inv.done.set()
                return inv
            self.queue.append(inv)
            self.cond.notify_all()
        if sync and not inv.done.wait(timeout):
            with self.cond:
                if not inv.done.is_set():
                    try:
                        self.queue.remove(inv)
                    except ValueError:
                        pass
                    self.running.pop(inv.request_id, None)
                    inv.result, inv.error = timed_out_payload(inv.request_id, timeout), True
                    self.counts["timeouts"] += 1
                    inv.done.set()
        return inv

    # -- the runtime (binary) side ------------------------------------------

    def next(self, alive: Callable[[], bool]) -> Invocation | None:
        """Block until an invocation is queued and hand it out, or return None
        once the poller's connection is gone."""
        with self.cond:
            self.pollers += 1
            self.init_error = None  # a binary is (again) up and polling
            try:
                while True:
                    self._drop_expired()
                    if self.queue:
                        if not alive():
                            return None
                        inv = self.queue.popleft()
                        self.running[inv.request_id] = inv
                        return inv
                    if not alive():
                        return None
                    self.cond.wait(POLL_SECONDS)
            finally:
                self.pollers -= 1

    def give_back(self, inv: Invocation) -> None:
        """The poller vanished while we sent it `inv`: queue it again, first."""
        with self.cond:
            if self.running.pop(inv.request_id, None) is not None and not inv.done.is_set():
                self.queue.appendleft(inv)
                self.cond.notify_all()

    def complete(self, request_id: str, body: bytes, error: bool) -> bool:
        with self.cond:
            inv = self.running.pop(request_id, None)
            if inv is None or inv.done.is_set():
                return False
            inv.result, inv.error = body, error
            self.counts["errors" if error else "responses"] += 1
            inv.done.set()
            return True

    def fail_init(self, body: bytes) -> None:
        with self.cond:
            self.init_error = body
            self.counts["initErrors"] += 1
            # Fail what is waiting now, as the invoke that triggered the
            # failed cold start fails in AWS; later invokes fail at once
            # until a binary polls again (see invoke).
            for inv in list(self.queue):
                if inv.sync:
                    self.queue.remove(inv)
                    inv.result, inv.error = body, True
                    self.counts["errors"] += 1
                    inv.done.set()

    def _drop_expired(self) -> None:
        # Event invocations a binary took and never answered (it hung or
        # died): forget them after their deadline. Synchronous ones are
        # withdrawn by their waiting invoke.
        now = time.time()
        for request_id, inv in list(self.running.items()):
            if not inv.sync and inv.deadline < now:
                del self.running[request_id]
                self.counts["timeouts"] += 1


def diagnostic(body: bytes, error_type: str | None) -> bytes:
    """The error payload an invoke returns: the JSON the runtime posted
    ({"errorType", "errorMessage"} from lambda_runtime), or one made up
    from its Lambda-Runtime-Function-Error-Type header if it posted none."""
    try:
        if isinstance(json.loads(body), dict):
            return body
    except ValueError:
        pass
    return json.dumps(
        {"errorType": error_type or "Unhandled", "errorMessage": body.decode("utf-8", "replace")}
    ).encode()


class RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as hyper expects
    runtime: RuntimeFunction
    verbose = False

    def log_message(self, format: str, *args: Any) -> None:
        if self.verbose:
            sys.stderr.write(f"runtime-api {self.runtime.name}: {format % args}\n")

    def connection_alive(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return True
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except (OSError, ValueError):
            return False

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def not_found(self) -> None:
        self.reply(404, json.dumps({"errorType": "NotFound", "errorMessage": f"no route {self.command} {self.path}"}).encode())

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            return self.not_found()
        inv = self.runtime.next(self.connection_alive)
        if inv is None:
            self.close_connection = True
            return
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": inv.invoked_arn,
            "Lambda-Runtime-Trace-Id": inv.trace_id,
        }
        try:
            self.reply(200, inv.payload, headers)
        except OSError:
            self.runtime.give_back(inv)
            self.close_connection = True

    def do_POST(self) -> None:
        body = self.read_body()
        match = RESULT_PATH.fullmatch(self.path)
        if match:
            error = match[2] == "error"
            if error:
                body = diagnostic(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            if self.runtime.complete(match[1], body, error):
                return self.reply(202, b'{"status":"OK"}')
            return self.reply(
                400,
                json.dumps(
                    {"errorType": "InvalidRequestID", "errorMessage": f"unknown or finished request id {match[1]}"}
                ).encode(),
            )
        if self.path == f"{API}/init/error":
            self.runtime.fail_init(diagnostic(body, self.headers.get("Lambda-Runtime-Function-Error-Type")))
            return self.reply(202, b'{"status":"OK"}')
        return self.not_found()


class RuntimeRegistry:
    """The runtime-backed functions of one emulator, by function name."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.functions: dict[str, RuntimeFunction] = {}
        self.host = "127.0.0.1"
        self.verbose = False

    def register(self, name: str, invoke_timeout: float | None = None) -> RuntimeFunction:
        """Register `name` (idempotent: the same name keeps its address; a
        given invoke_timeout replaces the previous one)."""
        with self.lock:
            runtime = self.functions.get(name)
            if runtime is None:
                runtime = self.functions[name] = RuntimeFunction(name, self.host, invoke_timeout, self.verbose)
            elif invoke_timeout is not None:
                runtime.invoke_timeout = invoke_timeout
            return runtime

    def get(self, name: str) -> RuntimeFunction | None:
        return self.functions.get(name)

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            runtimes = list(self.functions.values())
        return [r.describe() for r in runtimes]


RUNTIMES = RuntimeRegistry()


def function_name_of(name_or_arn: str) -> str:
    """NAME from NAME, NAME:QUALIFIER or a (qualified) function ARN."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn.split(":")[0]


# --------------------------------------------------------------------------
# A fake runtime client, for emulator.py's selftest
# --------------------------------------------------------------------------


class FakeRuntime:
    """What a lambda_runtime binary does, in a thread: GET next, call
    `handler(event, headers)`, POST its result to .../response, or, if it
    raises, {"errorType": <exception class>, "errorMessage": str(exc)} to
    .../error. Records every event it saw. `stop()` closes its connection,
    as a killed binary's would be."""

    def __init__(self, address: str, handler: Callable[[Any, dict], Any]) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.handler = handler
        self.seen: list[tuple[Any, dict]] = []
        self.stopped = threading.Event()
        self.conn: Any = None
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        import http.client

        conn = http.client.HTTPConnection(self.host, self.port, timeout=3600)
        conn.connect()
        self.conn = conn
        if self.stopped.is_set():  # stop() may have missed this connection
            conn.close()
            raise ConnectionAbortedError("stopped")
        try:
            conn.request(method, API + path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def loop(self) -> None:
        while not self.stopped.is_set():
            try:
                status, headers, raw = self.call("GET", "/invocation/next")
            except OSError:
                if self.stopped.is_set():
                    return
                time.sleep(0.2)
                continue
            if status != 200 or self.stopped.is_set():
                continue
            event = json.loads(raw or b"null")
            self.seen.append((event, headers))
            request_id = headers["lambda-runtime-aws-request-id"]
            try:
                result = self.handler(event, headers)
            except Exception as exc:
                path = f"/invocation/{request_id}/error"
                body = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
                extra = {"Lambda-Runtime-Function-Error-Type": "unhandled"}
            else:
                path, body, extra = f"/invocation/{request_id}/response", json.dumps(result).encode(), {}
            try:
                self.call("POST", path, body, extra)
            except OSError:  # stopped meanwhile: the answer is lost, as a killed binary's
                pass

    def stop(self) -> None:
        self.stopped.set()
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=5)


if __name__ == "__main__":  # pragma: no cover - a library of emulator.py
    sys.exit(f"{os.path.basename(__file__)}: use scripts/emulator.py")
