"""A loopback HTTP server that serves good feeds and misbehaves on purpose, one route per misbehaviour.

Everything is generated on demand: the 1 GiB body and the 4 GiB gzip bomb are produced lazily, a chunk at a
time, while the client reads, and stop the moment it hangs up. Server-side waits use an event, so shutting the
server down wakes every handler and `stop()` returns promptly with all handler threads joined.

    with running_feed_server() as server:
        url = server.url("/good/alpha")
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import hashlib
import http.client
import socket
import ssl
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

GiB = 1024**3
MiB = 1024**2
HANG_SECONDS = 60.0  # how long "slow" routes would take; `stop()` interrupts them

Handler = Callable[["_RequestHandler"], None]


# -- feed documents --------------------------------------------------------------------------------


def rss(
    title: str,
    items: list[tuple[str, str]],
    *,
    encoding: str = "utf-8",
    declare: bool = True,
    doctype: str = "",
) -> bytes:
    """An RSS 2.0 document: `items` are (guid, title); text is encoded in `encoding`."""
    entries = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><title>{text}</title>'
        f"<link>http://example.invalid/{guid}</link><description>{text}: description</description>"
        "<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><category>test</category></item>"
        for guid, text in items
    )
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declare else ""
    document = f'{declaration}{doctype}<rss version="2.0"><channel><title>{title}</title>{entries}</channel></rss>'
    return document.encode(encoding)


def good_feed(name: str, n_items: int = 3, version: int = 1) -> bytes:
    return rss(f"Лента {name}", [(f"{name}-{i}", f"{name} новость {i} v{version}") for i in range(n_items)])


XXE_FEED_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss [
  <!ENTITY passwd SYSTEM "file:///etc/passwd">
  <!ENTITY secret SYSTEM "file://{secret}">
  <!ENTITY % remote SYSTEM "file://{secret}">
  %remote;
]>
<rss version="2.0"><channel><title>xxe &passwd;</title>
<item><guid>xxe-1</guid><title>leak &passwd;</title><description>&secret;</description></item>
<item><guid>xxe-2</guid><title>inline <!ENTITY x SYSTEM "file:///etc/passwd"> &x;</title></item>
</channel></rss>
"""

XXE_ONE_LINE_TEMPLATE = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file://{secret}">'
    '<!ENTITY passwd SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel><title>t</title>'
    "<item><guid>one-line-1</guid><title>&secret;</title><description>&passwd;</description></item>"
    "</channel></rss>"
)

XXE_EXTERNAL_DTD_TEMPLATE = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "file://{secret}">\n'
    '<rss version="2.0"><channel><title>dtd</title><item><guid>dtd-1</guid><title>x</title></item></channel></rss>'
)


def billion_laughs(levels: int = 10) -> bytes:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(lines) + "\n]>\n"
        f'<rss version="2.0"><channel><title>lol</title><item><guid>lol-1</guid><title>&lol{levels - 1};</title>'
        "</item></channel></rss>"
    ).encode()


def quadratic_blowup(entity_kib: int = 64, references: int = 100_000) -> bytes:
    """One big plain-text entity referenced many times: no nesting, still ~6 GiB once expanded."""
    big = "A" * (entity_kib * 1024)
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "{big}">\n]>\n'
        '<rss version="2.0"><channel><title>q</title><item><guid>q-1</guid>'
        f"<title>{'&big;' * references}</title></item></channel></rss>"
    ).encode()


HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>Not a feed</h1>"
    b"<p>This domain is parked.</p></body></html>"
)


def truncated_feed() -> bytes:
    whole = rss("Обрезанная лента", [(f"trunc-{i}", f"запись {i}") for i in range(5)])
    cut = whole.index(b"<item>", whole.index(b"trunc-3") - 60)
    return whole[: cut + 40]  # two items complete, the next cut in its guid


# -- the server ------------------------------------------------------------------------------------


@dataclass
class Resource:
    """A good feed the server holds; its ETag and Last-Modified follow its body."""

    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    last_modified: str = email.utils.formatdate(1_795_000_000, usegmt=True)
    delay: float = 0.0  # server-side think time before answering

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


# A self-signed certificate (and its key) for 127.0.0.1 and localhost, valid until 2126: clients that trust it
# (`ssl.create_default_context(cafile=TLS_CERT)`) fetch over real TLS on loopback.
TLS_CERT = Path(__file__).parent / "tls" / "loopback.pem"


class FeedServer:
    """A threaded loopback server; `routes` maps a path to a handler, good feeds live in `resources`."""

    def __init__(self, secret_file: Path | None = None, tls: bool = False) -> None:
        self.stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        self.user_agents: set[str] = set()
        self.conditional: Counter[str] = Counter()  # requests that carried If-None-Match / If-Modified-Since
        self.in_flight = 0  # requests being answered right now, and the most ever at once
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.secret_file = secret_file
        self.resources: dict[str, Resource] = {}
        self.routes: dict[str, Handler] = {}
        self._install_routes()
        self.httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self.httpd.feed_server = self
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        if tls:  # the handshake happens in each handler thread, on its first read
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS_CERT)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="feed-server", daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake every waiting handler, stop accepting, and join all handler threads."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.hang_up_all()
        self.httpd.server_close()  # block_on_close: joins the handler threads
        self._thread.join()

    def wait(self, seconds: float) -> bool:
        """Server-side slowness; returns True when the server is stopping."""
        return self.stopping.wait(seconds)

    def add_feed(
        self, path: str, body: bytes, content_type: str = "application/rss+xml; charset=utf-8", delay: float = 0.0
    ) -> str:
        with self.lock:
            self.resources[path] = Resource(body, content_type, delay=delay)
        return self.url(path)

    def update_feed(self, path: str, body: bytes) -> None:
        with self.lock:
            old = self.resources[path]
            self.resources[path] = Resource(body, old.content_type, email.utils.formatdate(usegmt=True), old.delay)

    # Routes: every misbehaviour the fetcher and parser must survive.
    def _install_routes(self) -> None:
        secret = self.secret_file or Path("/nonexistent/secret")
        simple: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/status/500": (500, {}, b"Internal Server Error"),
            "/status/404": (404, {}, b"Not Found"),
            "/status/410": (410, {}, b"Gone"),
            "/status/429": (429, {"Retry-After": "7200"}, b"slow down"),
            "/status/503": (503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, b"maintenance"),
            "/status/204": (204, {}, b""),
            "/empty": (200, {"Content-Type": "application/rss+xml"}, b""),
            "/whitespace": (200, {"Content-Type": "application/rss+xml"}, b" \r\n\t \n"),
            "/html": (200, {"Content-Type": "text/html; charset=utf-8"}, HTML_PAGE),
            "/html-as-xml": (200, {"Content-Type": "application/rss+xml"}, HTML_PAGE),
            "/xxe": (200, {"Content-Type": "application/rss+xml"}, XXE_FEED_TEMPLATE.format(secret=secret).encode()),
            "/xxe-one-line": (200, {"Content-Type": "text/xml"}, XXE_ONE_LINE_TEMPLATE.format(secret=secret).encode()),
            "/xxe-dtd": (
                200,
                {"Content-Type": "application/xml"},
                XXE_EXTERNAL_DTD_TEMPLATE.format(secret=secret).encode(),
            ),
            "/billion-laughs": (200, {"Content-Type": "application/rss+xml"}, billion_laughs()),
            "/quadratic": (200, {"Content-Type": "application/rss+xml"}, quadratic_blowup()),
            "/truncated": (200, {"Content-Type": "application/rss+xml; charset=utf-8"}, truncated_feed()),
            "/charset/wrong-header": (  # header says utf-8, body (and its declaration) is windows-1251
                200,
                {"Content-Type": "application/rss+xml; charset=utf-8"},
                rss("Сибирь", [("w1251-1", "Новости Сибири")], encoding="windows-1251"),
            ),
            "/charset/header-only": (  # no declaration: only the HTTP header knows it is windows-1251
                200,
                {"Content-Type": "application/rss+xml; charset=windows-1251"},
                rss("Сибирь", [("h1251-1", "Новости по заголовку")], encoding="windows-1251", declare=False),
            ),
            "/charset/koi8-r": (
                200,
                {"Content-Type": "application/rss+xml"},
                rss("Кои", [("koi8-1", "Новости в KOI8-R")], encoding="koi8-r"),
            ),
            "/charset/latin-1": (
                200,
                {"Content-Type": "text/xml; charset=iso-8859-1"},
                rss("Café", [("latin1-1", "Crème brûlée à la française")], encoding="iso-8859-1"),
            ),
            "/charset/invalid-utf8": (
                200,
                {"Content-Type": "application/rss+xml; charset=utf-8"},
                good_feed("badbytes").replace(b"badbytes-1</guid><title>", b"badbytes-1</guid><title>\xff\xfe\xc3("),
            ),
            "/redirect/loop-a": (302, {"Location": "/redirect/loop-b"}, b""),
            "/redirect/loop-b": (302, {"Location": "/redirect/loop-a"}, b""),
            "/redirect/to-file": (301, {"Location": "file:///etc/passwd"}, b""),
            "/redirect/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/redirect/to-private": (302, {"Location": "http://10.0.0.1/feed.xml"}, b""),
            "/redirect/no-location": (301, {}, b""),
            "/redirect/chain-1": (301, {"Location": "/redirect/chain-2"}, b""),
            "/redirect/chain-2": (308, {"Location": "/redirect/chain-3"}, b""),
            "/redirect/chain-3": (301, {"Location": "/good/chained"}, b""),
            "/redirect/temporary": (302, {"Location": "/good/temporary"}, b""),
        }
        for path, (status, headers, body) in simple.items():
            self.routes[path] = _fixed(status, headers, body)
        for n in range(12):  # an endless-looking chain: /redirect/long-0 -> long-1 -> ... -> long-11 -> good
            target = f"/redirect/long-{n + 1}" if n < 11 else "/good/long"
            self.routes[f"/redirect/long-{n}"] = _fixed(302, {"Location": target}, b"")
        self.routes["/hang"] = _hang
        self.routes["/trickle"] = _trickle
        self.routes["/trickle-headers"] = _trickle_headers
        self.routes["/huge"] = _huge
        self.routes["/huge-declared"] = _huge_declared
        self.routes["/gzip-bomb"] = _bomb("gzip")
        self.routes["/deflate-bomb"] = _bomb("deflate")
        self.routes["/gzip-twice"] = _gzip_twice
        self.routes["/gzip-good"] = _gzip_good
        self.routes["/gzip-members"] = _gzip_members
        self.routes["/deflate-raw"] = _deflate_raw
        self.routes["/close-early"] = _close_early
        self.routes["/drop-first"] = _drop_first
        self.routes["/drop-always"] = _drop
        self.routes["/reset-always"] = _reset
        self.routes["/until-close"] = _until_close
        for name in ("chained", "temporary", "long"):
            self.resources[f"/good/{name}"] = Resource(good_feed(name))


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on close: nothing outlives the server
    block_on_close = True
    feed_server: FeedServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.connections_opened = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
            self.connections_opened += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def hang_up_all(self) -> None:
        """Wake handlers waiting on idle keep-alive connections, so closing the server joins them at once."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-body is the point of half the routes


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    timeout = 30  # a client that stops reading cannot pin a handler thread forever
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def feeds(self) -> FeedServer:
        return self.server.feed_server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        feeds = self.feeds
        with feeds.lock:
            feeds.requests[path] += 1
            feeds.user_agents.add(self.headers.get("User-Agent", ""))
            if self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"):
                feeds.conditional[path] += 1
            resource = feeds.resources.get(path)
            feeds.in_flight += 1
            feeds.max_in_flight = max(feeds.max_in_flight, feeds.in_flight)
        try:
            if resource is not None:
                self._serve_resource(resource)
            elif path in feeds.routes:
                feeds.routes[path](self)
            else:
                _fixed(404, {}, b"no such route")(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        finally:
            with feeds.lock:
                feeds.in_flight -= 1

    def _serve_resource(self, resource: Resource) -> None:
        if resource.delay and self.feeds.wait(resource.delay):
            return
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm and resource.etag in [v.strip() for v in inm.split(",")]) or (
            not inm and ims and ims == resource.last_modified
        ):
            self.send_response(304)
            self.send_header("ETag", resource.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", resource.content_type)
        self.send_header("ETag", resource.etag)
        self.send_header("Last-Modified", resource.last_modified)
        self.send_header("Content-Length", str(len(resource.body)))
        self.end_headers()
        self.wfile.write(resource.body)

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _fixed(status: int, headers: dict[str, str], body: bytes) -> Handler:
    def handle(h: _RequestHandler) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if status not in (204, 304):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status not in (204, 304):
            h.wfile.write(body)

    return handle


def _hang(h: _RequestHandler) -> None:
    """Accepts the connection, reads the request, then says nothing at all."""
    h.feeds.wait(HANG_SECONDS)
    h.close_connection = True


def _trickle(h: _RequestHandler) -> None:
    """Valid headers, then a body one byte a second (never finishing within any sane deadline)."""
    _headers_then_close(h)
    body = good_feed("trickle")
    for byte in body:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        if h.feeds.wait(1.0):
            return


def _trickle_headers(h: _RequestHandler) -> None:
    """The status line, then one header line a second, forever: a read timeout alone never fires."""
    h.close_connection = True
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for n in range(int(HANG_SECONDS)):
        h.wfile.write(b"X-Slow-%d: yes\r\n" % n)
        h.wfile.flush()
        if h.feeds.wait(1.0):
            return


def _huge(h: _RequestHandler) -> None:
    """1 GiB of feed-looking bytes, chunked, produced 64 KiB at a time while the client reads."""
    _headers_then_close(h, "Transfer-Encoding", "chunked")
    h.write_chunk(b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>')
    block = (b"<item><title>filler</title></item>" * 2000)[: 64 * 1024]
    for _ in range(GiB // len(block)):
        if h.feeds.stopping.is_set():
            return
        h.write_chunk(block)
    h.wfile.write(b"0\r\n\r\n")


def _huge_declared(h: _RequestHandler) -> None:
    """Declares 1 GiB up front; a careful client refuses before reading any of it."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", str(GiB))
    h.end_headers()
    h.close_connection = True
    block = b" " * (64 * 1024)
    for _ in range(GiB // len(block)):
        if h.feeds.stopping.is_set():
            return
        h.wfile.write(block)


@functools.cache
def _bomb_parts(coding: str) -> tuple[bytes, bytes, bytes]:
    """(head, block, tail) of a compressed stream; `block` is 1 MiB of zeros, byte-identical every time because
    each part ends with a full flush (which resets the compressor's history). Repeating it costs nothing; the
    trailer's checksum only covers what was really compressed, but no capped client ever reads that far."""
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = compressor.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
    head += compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = [compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH) for _ in range(2)]
    assert blocks[0] == blocks[1]
    tail = compressor.compress(b"</title></channel></rss>") + compressor.flush()
    return head, blocks[0], tail


def _bomb(coding: str) -> Handler:
    """4 GiB of zeros inside a feed, as ~4 MiB of compressed blocks streamed lazily, never held in memory."""

    def handle(h: _RequestHandler) -> None:
        head, block, tail = _bomb_parts(coding)
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Encoding", coding)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.close_connection = True
        h.write_chunk(head)
        for _ in range(4 * 1024):  # 4 GiB once inflated
            if h.feeds.stopping.is_set():
                return
            h.write_chunk(block)
        h.write_chunk(tail)
        h.wfile.write(b"0\r\n\r\n")

    return handle


def _gzip_twice(h: _RequestHandler) -> None:
    """Two layers of gzip: each layer can multiply the other's ratio, so it is refused outright."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    once = inner.compress(bytes(8 * MiB)) + inner.flush()
    outer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    twice = outer.compress(once) + outer.flush()
    _fixed(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip, gzip"}, twice)(h)


def _gzip_good(h: _RequestHandler) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = compressor.compress(good_feed("gzipped", 4)) + compressor.flush()
    _fixed(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip", "ETag": '"gz1"'}, body)(h)


def _gzip_members(h: _RequestHandler) -> None:
    """A feed gzipped as two members (as `cat a.gz b.gz` makes), then zero padding, each part its own chunk."""
    feed = good_feed("members", 4)
    half = len(feed) // 2
    parts = [_gzip(feed[:half]), _gzip(feed[half:]), bytes(16)]
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Encoding", "gzip")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for part in parts:
        h.write_chunk(part)
        h.wfile.flush()
    h.wfile.write(b"0\r\n\r\n")


def _deflate_raw(h: _RequestHandler) -> None:
    """'deflate' without the zlib wrapper, as many servers send it."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(good_feed("raw-deflate")) + compressor.flush()
    _fixed(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "deflate"}, body)(h)


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _close_early(h: _RequestHandler) -> None:
    """Promises 10 000 bytes, sends 100, hangs up."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", "10000")
    h.end_headers()
    h.wfile.write(good_feed("early")[:100])
    h.close_connection = True


def _until_close(h: _RequestHandler) -> None:
    """An HTTP/1.0-style answer: no Content-Length, the body ends when the server closes the connection."""
    _headers_then_close(h)
    h.wfile.write(good_feed("until-close"))


def _headers_then_close(h: _RequestHandler, name: str = "Connection", value: str = "close") -> None:
    """A 200's headers without a length (the body that follows ends when the connection closes, or with its last
    chunk if `name` says chunked); the server hangs up after it."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header(name, value)
    h.end_headers()
    h.close_connection = True


def _drop(h: _RequestHandler) -> None:
    """Reads the request and hangs up without a word (as a server closing an idle keep-alive connection does)."""
    h.close_connection = True


def _reset(h: _RequestHandler) -> None:
    """Reads the request and resets the connection (RST, not a clean close)."""
    h.close_connection = True
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.wfile.close()
    h.rfile.close()
    h.connection.close()  # with no file objects left open on it, this closes the socket, and lingering 0 resets it


def _drop_first(h: _RequestHandler) -> None:
    """Hangs up on the first request for it; serves a good feed after."""
    with h.feeds.lock:
        first = h.feeds.requests["/drop-first"] == 1
    if first:
        _drop(h)
    else:
        _fixed(200, {"Content-Type": "application/rss+xml"}, good_feed("dropped"))(h)


class LoopbackProxy:
    """A plain HTTP proxy on loopback (no CONNECT) that forwards every GET to one feed server, whatever host the
    request names, and records the absolute URLs it was asked for: a test sees which requests went through it,
    and nothing reaches beyond loopback."""

    def __init__(self, upstream: FeedServer) -> None:
        self.upstream = upstream
        self.requested: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.requested.append(self.path)
                parts = urlsplit(self.path)
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
                origin = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=10)
                try:
                    origin.request("GET", target, headers=forwarded)
                    answer = origin.getresponse()
                    body = answer.read()
                finally:
                    origin.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


@contextmanager
def running_proxy(upstream: FeedServer) -> Iterator[LoopbackProxy]:
    proxy = LoopbackProxy(upstream)
    proxy._thread.start()
    try:
        yield proxy
    finally:
        proxy.httpd.shutdown()
        proxy.httpd.server_close()


@contextmanager
def running_feed_server(secret_file: Path | None = None, tls: bool = False) -> Iterator[FeedServer]:
    server = FeedServer(secret_file, tls).start()
    try:
        yield server
    finally:
        server.stop()
