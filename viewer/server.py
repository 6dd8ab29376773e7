"""The waitress server around the app: bounded connections, a deadline for a request's headers,
security headers on waitress's own error answers, and an event loop that sleeps while idle."""

import time
from collections.abc import Callable, Sequence
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

# Idle or slow clients are dropped after CHANNEL_TIMEOUT s; at most CONNECTIONS at once. An idle
# connection costs a few kB but holds a slot until then: at 64, 150 idle ones starved every
# other client for 30 s. poll() rather than select(), which fails past descriptor 1023.
THREADS, CONNECTIONS, CHANNEL_TIMEOUT = 4, 512, 30
# A worker thread waits for a slow client once this much of its answer is unsent; the largest
# answer (a day at 0.1 s from /api/samples, ~33 MB) stays below it, so a slow reader never holds
# a thread: what it has not read yet waits in a temporary file (waitress spills past 1 MB).
HIGH_WATERMARK = 64 * 1024 * 1024
# A request's headers must be complete within HEADER_TIMEOUT s of its first byte. Waitress's
# idle timeout counts from the last byte, so 512 clients that each send a header line every
# 5 s held every slot for as long as they liked.
HEADER_TIMEOUT = 10.0
# The event loop wakes every IDLE_WAKE s with no connection open (waitress's default is 1 s),
# and every BUSY_WAKE s while one is, to enforce the timeouts above.
IDLE_WAKE, BUSY_WAKE = 30.0, 1.0
# What the app sends on every answer, also on waitress's own 400, 413 and 431.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


class SecureErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's answer to a request it could not parse, with the app's security headers."""

    def execute(self) -> None:
        self.response_headers.extend(SECURITY_HEADERS)  # before the body writes the head
        super().execute()


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """A connection that notes when the headers of its current request began to arrive."""

    error_task_class = SecureErrorTask
    header_since: float | None = None  # monotonic time of the pending request's first byte
    _timed: object = None  # the request that header_since belongs to

    def received(self, data: bytes) -> bool:
        result: bool = super().received(data)
        request = self.request
        if request is None or request.headers_finished:
            self.header_since, self._timed = None, None
        elif request is not self._timed:
            self.header_since, self._timed = time.monotonic(), request
        return result


class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
    channel_class = GuardedChannel

    def maintenance(self, now: float) -> None:
        """Waitress's idle timeout, and the deadline for a request's headers."""
        super().maintenance(now)
        late = time.monotonic() - HEADER_TIMEOUT
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "header_since", None)
            if since is not None and since < late:
                channel.will_close = True


class Server:
    """One listening socket per address `host` resolves to, all served by one event loop."""

    def __init__(self, app: Callable[..., Any], host: str, port: int) -> None:
        adj = Adjustments(
            host=host,  # always given: waitress alone would listen on every interface
            port=port,
            threads=THREADS,
            connection_limit=CONNECTIONS,
            asyncore_use_poll=True,
            asyncore_loop_timeout=IDLE_WAKE,
            outbuf_high_watermark=HIGH_WATERMARK,
            channel_timeout=CHANNEL_TIMEOUT,
            cleanup_interval=BUSY_WAKE,
            ident="cpuload-viewer",
            clear_untrusted_proxy_headers=True,
        )
        self.map: dict[int, Any] = {}
        self.dispatcher = ThreadedTaskDispatcher()
        self.dispatcher.set_thread_count(adj.threads)
        self.listeners: list[GuardedServer] = []
        try:
            for info in adj.listen:
                server = GuardedServer(
                    app, self.map, dispatcher=self.dispatcher, adj=adj, sockinfo=info
                )
                self.listeners.append(server)
        except BaseException:
            self.close()
            raise

    @property
    def addresses(self) -> Sequence[tuple[str, int]]:
        return [(s.effective_host, int(s.effective_port)) for s in self.listeners]

    def run(self) -> None:
        """Serve until KeyboardInterrupt (or SystemExit); then end the worker threads."""
        try:
            while self.map:
                wasyncore.loop(timeout=self._wake(), map=self.map, use_poll=True, count=1)
        except (SystemExit, KeyboardInterrupt):
            self.dispatcher.shutdown()
        finally:
            self.close()

    def _wake(self) -> float:
        busy = any(isinstance(c, HTTPChannel) for c in self.map.values())
        return BUSY_WAKE if busy else IDLE_WAKE

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()
