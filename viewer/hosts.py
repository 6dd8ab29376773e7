"""Which names a request's Host header may carry: a page on another site that points its own
name at this address (DNS rebinding) then gets 400 rather than the data."""

from collections.abc import Iterable

import bottle

LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
BAD_HOST = "Host {host!r} is not allowed; add it with --allowed-hosts (CPULOAD_ALLOWED_HOSTS)"


class Hosts:
    """Allowed host names, each with or without a port; `*` allows any."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(_bare(_without_port(n)) for n in names if n.strip())
        self.any = "*" in self.names

    @classmethod
    def default(cls, listen: str) -> "Hosts":
        """The loopback names and the address the viewer listens on."""
        return cls([*LOOPBACK, f"[{listen}]" if ":" in listen else listen])

    def allows(self, header: str | None) -> bool:
        """A request without Host (HTTP/1.0) is allowed; otherwise its name must be listed."""
        if header is None or self.any:
            return True
        return _bare(_without_port(header)) in self.names

    def check(self, request: bottle.BaseRequest) -> None:
        header = request.environ.get("HTTP_HOST")
        if not self.allows(header):
            shown = str(header)[:100]
            raise bottle.HTTPError(400, BAD_HOST.format(host=shown))


def _without_port(host: str) -> str:
    """`name:port` or `[v6]:port` without the port; a bare IPv6 address has no port."""
    host = host.strip()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") != 1:
        return host
    name, _, port = host.partition(":")
    return name if name and port.isdigit() else host


def _bare(name: str) -> str:
    """Lower case, no trailing dot; an IPv6 address always in brackets."""
    name = name.strip().lower().rstrip(".")
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name
