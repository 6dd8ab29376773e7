"""HTTP answers: ETags from an answer's inputs, 304 to a matching If-None-Match, gzip for a
client that accepts it. A cached answer is kept gzipped (compressing a day's page takes longer
than serving it from the cache)."""

import gzip
import hashlib
import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import bottle

from shared import __version__
from viewer.facts import Facts


class Answer(NamedTuple):
    etag: str
    gz: bytes  # the body, gzipped
    content_type: str
    csp: str | None = None  # a Content-Security-Policy wider than the default, or None


def tag(*inputs: object, weak: bool = False) -> str:
    """An ETag over everything an answer is drawn from (and this program's version)."""
    digest = hashlib.blake2b(repr((__version__, inputs)).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"' if weak else f'"{digest}"'


def facts_key(f: Facts) -> tuple[object, ...]:
    """The facts an answer depends on; earlier runs and pauses only change by hand, and a hand
    edit of old samples shows in `edits`."""
    last_run = f.runs[-1] if f.runs else None
    return (f.version, len(f.runs), last_run, f.newest, f.oldest, f.pauses, f.edits, f.collector)


def make(etag: str, body: str | bytes, content_type: str, csp: str | None = None) -> Answer:
    raw = body.encode() if isinstance(body, str) else body
    return Answer(etag, gzip.compress(raw, compresslevel=6, mtime=0), content_type, csp)


def fresh(request: bottle.BaseRequest, etag: str) -> bool:
    """True when the client's copy (If-None-Match) is this answer: a 304 will do."""
    header = request.get_header("If-None-Match", "")
    if not header:
        return False
    mine = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") in (mine, "*") for t in header.split(","))


def accepts_gzip(request: bottle.BaseRequest) -> bool:
    """gzip or * in Accept-Encoding with a weight above 0 (`q`, in any case, default 1)."""
    for item in request.get_header("Accept-Encoding", "").split(","):
        name, *params = item.split(";")
        if name.strip().lower() in ("gzip", "*"):
            pairs = (p.partition("=") for p in params)
            weights = [v for k, _, v in pairs if k.strip().lower() == "q"]
            try:
                return float(weights[0] if weights else "1") > 0
            except ValueError:
                return False
    return False


def not_modified(response: bottle.BaseResponse, etag: str) -> bytes:
    response.status = 304
    response.set_header("ETag", etag)
    return b""


def send(
    request: bottle.BaseRequest,
    response: bottle.BaseResponse,
    answer: Answer,
    tagged: bool = True,
) -> bytes:
    """The answer's body, gzipped where the client accepts it, with its ETag (`tagged`)."""
    response.content_type = answer.content_type
    if tagged:
        response.set_header("ETag", answer.etag)
    response.set_header("Vary", "Accept-Encoding")
    if answer.csp:
        response.set_header("Content-Security-Policy", answer.csp)
    if accepts_gzip(request):
        response.set_header("Content-Encoding", "gzip")
        return answer.gz
    return gzip.decompress(answer.gz)


def stream(
    request: bottle.BaseRequest,
    response: bottle.BaseResponse,
    etag: str,
    content_type: str,
    chunks: Iterable[bytes],
) -> Iterator[bytes]:
    """A streamed answer, compressed as it goes where the client accepts gzip."""
    response.content_type = content_type
    response.set_header("ETag", etag)
    response.set_header("Vary", "Accept-Encoding")
    if not accepts_gzip(request):
        return iter(chunks)
    response.set_header("Content-Encoding", "gzip")
    return _gzipped(chunks)


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    for chunk in chunks:
        out = packer.compress(chunk)
        if out:
            yield out
    yield packer.flush()
