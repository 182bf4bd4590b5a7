"""The playground's web server: the standard library's `ThreadingHTTPServer`, its page, a
JSON API, and a Server-Sent Events stream per page while it plays.

Why Server-Sent Events: while a page plays, the server trains and pushes a frame as soon as
it is ready, over one long response that plain `http.server` can write, with no polling
delay and no request per frame; and when the page goes away the stream breaks, which is how
its training session learns to stop. Every command (play, pause, step, reset, new settings)
is a small POST that answers with the frame after it.

Safety: the server serves the files of its own static folder by name only (a fixed table
read at start, so no path reaches the file system), answers only requests whose Host is the
address it listens on (a page elsewhere cannot reach it through DNS rebinding) and whose
Origin, if any, is its own, bounds every request body (413 past `MAX_BODY` or
`MAX_UPLOAD`), and turns every error into a 4xx or 500 with a one-line JSON message.
"""

import io
import json
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..datasets.tabular import load_csv
from ..serialization import model_file_arrays
from ..training import DivergedError
from .code import python_code
from .session import Session

MAX_BODY = 64 * 1024             # bytes of a JSON request
MAX_UPLOAD = 2 * 1024 * 1024     # bytes of an uploaded CSV
DRAIN_FACTOR = 4                 # a body up to 4x its limit is read and dropped before the 413
MAX_SESSIONS = 16                # pages served at once; the oldest is stopped past it
MIN_FRAME_SECONDS = 1 / 40       # the stream sends at most 40 frames a second
PING_SECONDS = 10                # a paused stream writes a comment this often, to notice a closed page
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
SESSION_ROUTE = re.compile(r"^/api/session/([0-9a-f]{16})/(events|command|close)$")


class RequestError(Exception):
    """An answer other than 200: an HTTP status and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def static_files():
    """{"/name": (bytes, content type)} for every file of the package's static folder."""
    folder = resources.files(__package__).joinpath("static")
    files = {}
    for entry in folder.iterdir():
        suffix = os.path.splitext(entry.name)[1]
        if entry.is_file() and suffix in TYPES:
            files["/" + entry.name] = (entry.read_bytes(), TYPES[suffix])
    files["/"] = files["/index.html"]
    return files


class PlaygroundServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that keeps the pages' sessions and the speed counters."""

    daemon_threads = True

    def __init__(self, address, open_hosts=False):
        self.files = static_files()
        self.sessions = {}                   # id -> Session
        self.latest = None                   # the id of the session last used
        self.registry = threading.Lock()
        self.open_hosts = open_hosts         # True: any Host header (when bound beyond loopback)
        self.counters = {"sessions": 0, "frames": 0, "epochs": 0, "play_seconds": 0.0}
        self.blas_limit = None
        if ":" in address[0]:                # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)   # binds: an OSError (port taken, unknown host) ends here

    def server_close(self):
        super().server_close()
        with self.registry:
            for key in list(self.sessions):
                self.stop(key)
        if self.blas_limit is not None:
            self.blas_limit.restore_original_limits()
            self.blas_limit = None

    def allowed_hosts(self):
        port = self.server_address[1]
        return {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}

    def add(self, session):
        with self.registry:
            if len(self.sessions) >= MAX_SESSIONS:
                oldest = next(iter(self.sessions))
                self.stop(oldest)
            key = secrets.token_hex(8)
            self.sessions[key] = session
            self.latest = key
            self.counters["sessions"] += 1
        return key

    def stop(self, key):
        """Stop a session's training and forget it (the registry lock is held by the caller)."""
        session = self.sessions.pop(key, None)
        if session is not None:
            with session.lock:
                session.closed, session.playing = True, False
                session.lock.notify_all()
        if self.latest == key:
            self.latest = next(reversed(self.sessions), None) if self.sessions else None

    def find(self, key):
        with self.registry:
            key = key or self.latest
            if key is None or key not in self.sessions:
                raise RequestError(HTTPStatus.NOT_FOUND, "no such session: open the page first, or reload it")
            self.latest = key
            return self.sessions[key]


class Handler(BaseHTTPRequestHandler):
    """One request: a static file, an API call, or a page's event stream."""

    server_version = "scratchnn-playground"
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):       # quiet: the command prints its own lines
        pass

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def _answer(self, route):
        try:
            self._check_origin()
            route(urlsplit(self.path))
        except RequestError as error:
            self._json({"error": str(error)}, error.status)
        except (ValueError, TypeError, DivergedError) as error:
            self._json({"error": " ".join(str(error).split())}, HTTPStatus.BAD_REQUEST)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:              # never a traceback page
            self._json({"error": f"internal error: {type(error).__name__}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_origin(self):
        if len(self.path) > 2048:
            raise RequestError(HTTPStatus.REQUEST_URI_TOO_LONG, "the address is longer than 2048 characters")
        if self.server.open_hosts:
            return
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts():
            raise RequestError(HTTPStatus.FORBIDDEN, f"unexpected Host header {host[:80]!r}")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.server.allowed_hosts():
            raise RequestError(HTTPStatus.FORBIDDEN, f"requests from {origin[:80]!r} are not served")

    # --- GET ----------------------------------------------------------------------------------

    def _get(self, url):
        query = parse_qs(url.query)
        key = query.get("session", [None])[0]
        if url.path in self.server.files:
            body, kind = self.server.files[url.path]
            return self._send(body, kind)
        match = SESSION_ROUTE.match(url.path)
        if match and match.group(2) == "events":
            return self._events(match.group(1))
        if url.path == "/api/stats":
            return self._json(self._stats())
        getters = {"/api/model.npz": self._model, "/api/data.csv": self._data_csv, "/api/code.py": self._code,
                   "/api/explain": lambda session, query: self._json(session.explain()),
                   "/api/surface": self._surface}
        if url.path not in getters:
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing at {url.path[:80]!r}")
        session = self.server.find(key)
        with session.lock:
            getters[url.path](session, query)

    def _model(self, session, query):
        buffer = io.BytesIO()
        np.savez(buffer, **model_file_arrays(session.net))       # what sn.save writes
        self._send(buffer.getvalue(), "application/octet-stream", "playground_model.npz")

    def _data_csv(self, session, query):
        data = session.data
        names = [str(name) for name in data["names"]] if session.settings["dataset"] == "csv" else ["x1", "x2"]
        y = data["y"][:, 0] if data["y"].ndim == 2 else data["y"]
        split = np.zeros(len(y), dtype=object)
        split[data["train"]], split[data["test"]] = "train", "test"
        lines = [",".join(names + ["split", "target"])]
        for row, part, target in zip(data["X"], split, y):
            lines.append(",".join([*(repr(float(v)) for v in row), part, repr(target.item())]))
        self._send(("\n".join(lines) + "\n").encode("utf-8"), "text/csv; charset=utf-8", "playground_data.csv")

    def _code(self, session, query):
        code = python_code(session.settings, session.epoch, len(session.y_train))
        self._send(code.encode("utf-8"), "text/x-python; charset=utf-8", "playground_run.py")

    def _surface(self, session, query):
        text = query.get("resolution", ["21"])[0]
        if not text.isdigit() or not 5 <= int(text) <= 41:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"resolution must be a whole number from 5 to 41, got {text[:20]!r}")
        self._json(session.surface(int(text)))

    def _stats(self):
        counters = dict(self.server.counters)
        seconds = counters["play_seconds"]
        counters["frames_per_second"] = counters["frames"] / seconds if seconds else 0.0
        counters["epochs_per_second"] = counters["epochs"] / seconds if seconds else 0.0
        counters["open_sessions"] = len(self.server.sessions)
        return counters

    # --- POST ---------------------------------------------------------------------------------

    def _post(self, url):
        query = parse_qs(url.query)
        if url.path == "/api/session":
            session = Session(self._read_json())
            key = self.server.add(session)
            with session.lock:
                return self._json({"id": key, "frame": session.frame(with_data=True)})
        if url.path == "/api/upload":
            return self._upload(self.server.find(query.get("session", [None])[0]), query)
        match = SESSION_ROUTE.match(url.path)
        if not match or match.group(2) == "events":
            raise RequestError(HTTPStatus.NOT_FOUND, f"nothing to POST at {url.path[:80]!r}")
        if match.group(2) == "close":
            self._read_body(MAX_BODY)
            with self.server.registry:
                self.server.stop(match.group(1))
            return self._send(b"", "text/plain")
        command = self._read_json()
        session = self.server.find(match.group(1))
        with session.lock:
            with_data = self._command(session, command)
            frame = session.frame(with_data=with_data)
            session.lock.notify_all()
        self._json(frame)

    def _command(self, session, command):
        """Apply a command {"action": ..., ...}; return whether the data changed."""
        action = command.get("action") if isinstance(command, dict) else None
        if action == "play":
            session.playing = session.budget_left() != 0
        elif action == "pause":
            session.playing = False
        elif action == "step":
            session.playing = False
            self.server.counters["epochs"] += session.train(1)
        elif action == "reset":
            session.configure(session.settings)
            return True
        elif action == "configure":
            session.configure(command.get("settings"))
            return True
        else:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"action must be one of play, pause, step, reset, "
                               f"configure, got {str(action)[:40]!r}")
        return False

    def _upload(self, session, query):
        text = self._read_body(MAX_UPLOAD)
        target = query.get("target", ["-1"])[0]
        target = int(target) if re.fullmatch(r"-?\d{1,4}", target) else target
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "upload.csv")
            with open(path, "wb") as file:
                file.write(text)
            try:
                X, y, info = load_csv(path, target=target)
            except UnicodeDecodeError:
                raise RequestError(HTTPStatus.BAD_REQUEST, "the CSV file is not UTF-8 text") from None
            except ValueError as error:
                message = " ".join(str(error).replace(path, "the CSV file").split())
                raise RequestError(HTTPStatus.BAD_REQUEST, message) from None
        if len(X) < 4 or X.shape[1] > 64:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the CSV file needs 4 rows or more and at most 64 input "
                               f"columns, got {len(X)} rows and {X.shape[1]} input columns")
        settings = {**session.settings, "dataset": "csv", "preset": "", "plot": [0, min(1, X.shape[1] - 1)]}
        settings.update(problem="regression" if np.asarray(y).dtype.kind == "f" else "classification")
        settings = {key: value for key, value in settings.items()}
        with session.lock:
            session.configure(settings, upload=(X, y, info))
            self._json(session.frame(with_data=True))

    def _read_body(self, limit):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a request body needs a Content-Length header")
        if int(length) > limit:
            self.close_connection = True
            if int(length) <= DRAIN_FACTOR * limit:     # read it away, so that the client sees the 413
                left = int(length)
                while left > 0:
                    left -= len(self.rfile.read(min(65536, left))) or left     # stop at end of stream
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"the request body is {length} bytes; the limit is {limit}")
        return self.rfile.read(int(length))

    def _read_json(self):
        body = self._read_body(MAX_BODY)
        try:
            return json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"malformed JSON: {error}") from None

    # --- the event stream ---------------------------------------------------------------------

    def _events(self, key):
        session = self.server.find(key)
        self.send_response(HTTPStatus.OK)
        self._headers("text/event-stream")
        self.end_headers()
        with session.lock:
            session.stream = stream = object()       # a newer stream for the same page replaces this one
        try:
            while True:
                started = time.perf_counter()
                with session.lock:
                    if not session.playing and not session.closed:
                        session.lock.wait(PING_SECONDS)
                    if session.closed or session.stream is not stream:
                        break
                    frame = None
                    if session.playing:
                        self.server.counters["epochs"] += session.play_chunk()
                        frame = json.dumps(session.frame(), allow_nan=False)
                if frame is None:
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
                    continue
                self.wfile.write(b"data: " + frame.encode("utf-8") + b"\n\n")
                self.wfile.flush()
                rest = MIN_FRAME_SECONDS - (time.perf_counter() - started)
                if rest > 0:
                    time.sleep(rest)
                self.server.counters["frames"] += 1
                self.server.counters["play_seconds"] += time.perf_counter() - started
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:                                       # the page has gone: stop its training
            with self.server.registry:
                if getattr(session, "stream", None) is stream:
                    for name, value in list(self.server.sessions.items()):
                        if value is session:
                            self.server.stop(name)

    # --- writing ------------------------------------------------------------------------------

    def _headers(self, kind, filename=None):
        self.send_header("Content-Type", kind)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if filename:
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')

    def _send(self, body, kind, filename=None, status=HTTPStatus.OK):
        self.send_response(status)
        self._headers(kind, filename)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status=HTTPStatus.OK):
        self._send(json.dumps(value, allow_nan=False).encode("utf-8"), "application/json", status=status)


def make_server(host="127.0.0.1", port=8765):
    """A `PlaygroundServer` bound to (host, port) (port 0: any free port), not yet serving.
    Any Host header is accepted only when `host` is not a loopback address. Raises OSError
    (one line naming host and port) when the address cannot be bound."""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    try:
        server = PlaygroundServer((host, port), open_hosts=not loopback)
    except OSError as error:             # the port is taken, the host unknown: say which
        raise OSError(f"cannot listen on {host} port {port}: {error.strerror or error}") from None
    server.blas_limit = _one_blas_thread()
    return server


def _one_blas_thread():
    """Keep BLAS to one thread while serving (threadpoolctl, when installed): the playground's
    matrices are small, and BLAS threads fighting for busy cores make each product ten times
    slower. Returns the limiter, whose ``restore_original_limits()`` undoes it; None without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


def serve(host="127.0.0.1", port=8765, open_browser=True, out=None):
    """Serve the playground on (host, port) until Ctrl-C; open the page in the browser unless
    ``open_browser=False``. Prints the address (and a warning beyond loopback) on `out`."""
    out = out or sys.stdout
    server = make_server(host, port)
    if server.open_hosts:
        print(f"scratchnn: warning: the playground listens on {host}, not only on this machine: anyone who "
              "can reach this address can use it", file=sys.stderr)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{server.server_address[1]}/"
    print(f"scratchnn playground: {url}  (Ctrl-C stops it)", file=out, flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        print("scratchnn playground: stopped", file=out)
    finally:
        server.server_close()
    return url
