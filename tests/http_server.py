"""A local HTTP server for download tests: Range requests and injectable faults."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServerBehaviour:
    """What the server does; tests change it between requests."""

    status: int | None = None  # answer every request with this status instead of the file
    cut_after: int | None = None  # close the connection after sending this many body bytes
    ignore_range: bool = False  # always send the whole file with 200
    stall_seconds: float = 0.0  # send the headers, then wait this long before the body
    delay_per_chunk: float = 0.0  # send the body slowly, 64 kB at a time
    requests: list[dict] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    root: Path
    behaviour: ServerBehaviour

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.behaviour.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.behaviour.status is not None:
            self.send_error(self.behaviour.status)
            return
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = 0
        byte_range = self.headers.get("Range")
        if byte_range and not self.behaviour.ignore_range:
            start = int(byte_range.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.behaviour.cut_after is not None:
            self.wfile.write(payload[: self.behaviour.cut_after])
            self.wfile.flush()
            self.behaviour.cut_after = None  # the next request gets the rest
            self.close_connection = True
            return
        if self.behaviour.stall_seconds:
            self.wfile.flush()
            time.sleep(self.behaviour.stall_seconds)
        try:
            for start in range(0, len(payload), 65536):
                self.wfile.write(payload[start : start + 65536])
                if self.behaviour.delay_per_chunk:
                    self.wfile.flush()
                    time.sleep(self.behaviour.delay_per_chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a test killed it)


class LocalServer:
    def __init__(self, root: Path) -> None:
        self.behaviour = ServerBehaviour()
        handler = type("Handler", (_Handler,), {"root": root, "behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
