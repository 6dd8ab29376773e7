"""Timed GETs to the viewer on 127.0.0.1 over one kept-alive connection."""

import http.client
import time


class HttpError(RuntimeError):
    """An answer other than the one expected; the message holds the path and status."""


class Client:
    """One HTTP/1.1 connection, reopened if the server closes it."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=60)
            self._conn = conn
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def fetch(self, path: str, status: int = 200) -> bytes:
        """The body of `path`; HttpError unless the status is `status`."""
        got, body = self.get(path)
        if got != status:
            raise HttpError(f"GET {path} answered {got}: {body[:200]!r}")
        return body

    def timed_ms(self, path: str, status: int = 200) -> float:
        """Milliseconds from sending the request to the last byte of the answer."""
        start = time.perf_counter()
        self.fetch(path, status)
        return 1000 * (time.perf_counter() - start)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
