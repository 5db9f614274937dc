"""The SSRF-safe outbound client: URL policy, address checks, pinning, timeouts, size limits.

Real HTTP(S) servers on the loopback interface stand for tenants' endpoints (allow-listed, as in
local development). Made-up hostnames get answers from a fake resolver: the sandbox has no DNS.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core import outbound
from app.core.outbound import BlockedUrl, OutboundError, check_url

# --- helpers -------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real receivers

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length), self.client_address)
        self.server.seen.append(seen)
        self.server.respond(self)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, respond, tls: ssl.SSLContext | None = None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.respond = respond
        self.seen: list[Seen] = []
        self.release = threading.Event()  # ends slow handlers at teardown
        self.port = self.server_address[1]

    def handle_error(self, request, client_address):
        pass  # a client that gave up (the point of several tests) is not an error here


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(respond=None, host="127.0.0.1", port=0, tls=None) -> Server:
        server = Server(host, port, respond or reply(), tls)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def reply(status=200, body=b"pong", headers=(), delay=0.0):
    def respond(handler):
        time.sleep(delay)
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


@pytest.fixture(autouse=True)
def allow(app, monkeypatch):
    """allow(*hosts) sets OUTBOUND_ALLOWED_HOSTS; nothing is allowed unless a test says so."""
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", [])
    return lambda *hosts: monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", list(hosts))


@pytest.fixture
def dns(monkeypatch):
    """A resolver for made-up names: dns.answers[name] is a list of answers, one per lookup (the
    last repeats; [] fails like an unknown name); dns.lookups counts lookups per name. Other names
    (IP literals, localhost) go to the real resolver."""
    real = socket.getaddrinfo
    state = SimpleNamespace(answers={}, lookups=Counter())

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in state.answers:
            return real(host, port, family, type, proto, flags)
        state.lookups[host] += 1
        answers = state.answers[host]
        addresses = answers[min(state.lookups[host], len(answers)) - 1]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return state


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket connects to; the connection is refused, nothing leaves the host."""
    attempts: list[tuple] = []

    def connect(sock, address):
        attempts.append(address[:2])
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- check_url -----------------------------------------------------------------------------------

BLOCKED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private network"),
    ("172.16.0.1", "private network"),
    ("192.168.1.1", "private network"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.0.1", "IETF protocol assignments"),
    ("192.88.99.1", "6to4 relay"),
    ("198.51.100.7", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "reserved"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private network"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private network"),
    ("::127.0.0.1", "loopback"),
    ("64:ff9b::a00:1", "NAT64"),
    ("2002:a00:1::", "6to4"),
    ("2001::1", "Teredo"),
    ("2001:db8::1", "documentation"),
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED_ADDRESSES)
def test_check_url_refuses_a_blocked_address_literal(address, reason):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(BlockedUrl) as raised:
        check_url(f"https://{host}/hook")
    assert str(raised.value) == f"Address {address} is not allowed ({reason})"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://93.184.215.14/hook", "Only https URLs are allowed"),
        ("ftp://93.184.215.14/hook", "Only https URLs are allowed"),
        ("93.184.215.14/hook", "Only https URLs are allowed"),
        ("https://user:pass@93.184.215.14/hook", "Credentials in the URL are not allowed"),
        ("https://token@93.184.215.14/hook", "Credentials in the URL are not allowed"),
        ("https:///hook", "The URL has no host"),
        ("https://", "The URL has no host"),
        ("https://93.184.215.14:99999/", "Invalid URL"),
        ("https://[fe80::1%25nosuch0]/", "Address fe80::1%nosuch0 is not allowed (link-local)"),
    ],
)
def test_check_url_refuses_by_policy(url, message):
    with pytest.raises(BlockedUrl) as raised:
        check_url(url)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "url", ["https://93.184.215.14/", "https://[2606:4700::1111]/", "HTTPS://93.184.215.14:8443/a?b=1#c"]
)
def test_check_url_accepts_a_public_address(url):
    check_url(url)


def test_check_url_refuses_a_hostname_resolving_to_loopback():
    with pytest.raises(BlockedUrl, match=r"^localhost resolves to .*, which is not allowed \(loopback\)$"):
        check_url("https://localhost/hook")


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_check_url_refuses_legacy_spellings_of_loopback(host):
    with pytest.raises(BlockedUrl, match=rf"^{host} resolves to 127.0.0.1, which is not allowed \(loopback\)$"):
        check_url(f"https://{host}/hook")


@pytest.mark.parametrize("addresses", [["10.0.0.5"], ["93.184.215.14", "10.0.0.5"], ["2606:4700::1111", "::1"]])
def test_check_url_refuses_a_hostname_if_any_address_is_blocked(dns, addresses):
    dns.answers["hooks.test"] = [addresses]
    with pytest.raises(BlockedUrl, match=rf"^hooks.test resolves to {addresses[-1]}, which is not allowed"):
        check_url("https://hooks.test/hook")


def test_check_url_accepts_a_hostname_with_public_addresses_only(dns):
    dns.answers["hooks.test"] = [["93.184.215.14", "2606:4700::1111"]]
    check_url("https://hooks.test/hook")


def test_check_url_accepts_a_hostname_that_does_not_resolve_now(dns):
    dns.answers["nowhere.test"] = [[]]
    check_url("https://nowhere.test/hook")


def test_allow_list_permits_http_and_local_addresses_for_exact_hosts_only(allow):
    allow("127.0.0.1", "LocalHost", "[::1]")
    check_url("http://127.0.0.1:8000/hook")
    check_url("http://localhost/hook")
    check_url("http://[::1]:5000/hook")
    check_url("https://localhost/hook")
    with pytest.raises(BlockedUrl, match="^Only https URLs are allowed$"):
        check_url("http://127.0.0.2/hook")
    with pytest.raises(BlockedUrl, match=r"^Address 127.0.0.2 is not allowed \(loopback\)$"):
        check_url("https://127.0.0.2/hook")
    with pytest.raises(BlockedUrl, match="^Credentials in the URL are not allowed$"):
        check_url("http://user:pass@127.0.0.1/hook")


# --- request(): refusals -------------------------------------------------------------------------


def test_request_refuses_a_blocked_address_without_connecting(dns, connects):
    dns.answers["private.test"] = [["10.0.0.5"]]
    with pytest.raises(BlockedUrl) as raised:
        outbound.request("POST", "https://private.test/hook", body=b"{}")
    assert str(raised.value) == "private.test resolves to 10.0.0.5, which is not allowed (private network)"
    with pytest.raises(BlockedUrl, match=r"^Address 169.254.169.254 is not allowed \(link-local\)$"):
        outbound.request("GET", "https://169.254.169.254/latest/meta-data/")
    with pytest.raises(BlockedUrl, match=r"^localhost resolves to .*\(loopback\)$"):
        outbound.request("GET", "https://localhost/")
    with pytest.raises(BlockedUrl, match="^Only https URLs are allowed$"):
        outbound.request("GET", "http://93.184.215.14/")
    assert connects == []


def test_request_to_a_host_that_does_not_resolve(dns):
    dns.answers["nowhere.test"] = [[]]
    with pytest.raises(OutboundError) as raised:
        outbound.request("GET", "https://nowhere.test/")
    assert type(raised.value) is OutboundError
    assert str(raised.value) == "Could not resolve host nowhere.test"


# --- request(): pinning (no DNS rebinding) -------------------------------------------------------


def test_request_connects_to_the_checked_address_not_a_second_answer(dns, connects):
    # a rebinding attacker's DNS: a public address for the check, loopback for any later lookup
    dns.answers["rebind.test"] = [["93.184.215.14"], ["127.0.0.1"]]
    with pytest.raises(OutboundError, match="^Connection refused$"):
        outbound.request("POST", "https://rebind.test/hook", body=b"{}")
    assert connects == [("93.184.215.14", 443)]
    assert dns.lookups["rebind.test"] == 1


def test_request_sends_to_the_resolved_address_with_the_hostname_in_host(dns, allow, serve):
    first = serve(reply(body=b"first"))
    second = serve(reply(body=b"second"), host="127.0.0.2", port=first.port)
    dns.answers["rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    allow("rebind.test")
    response = outbound.request("GET", f"http://rebind.test:{first.port}/x")
    assert response.content == b"first"
    assert second.seen == []
    assert first.seen[0].headers["Host"] == f"rebind.test:{first.port}"
    assert dns.lookups["rebind.test"] == 1


def test_request_tries_the_next_checked_address_when_one_refuses(dns, allow, serve):
    server = serve(host="127.0.0.1")
    dns.answers["three.test"] = [["127.0.0.2", "127.0.0.1", "127.0.0.3"]]  # only 127.0.0.1 listens
    allow("three.test")
    assert outbound.request("GET", f"http://three.test:{server.port}/").status_code == 200
    assert len(server.seen) == 1


# --- request(): against local servers ------------------------------------------------------------


def test_request_posts_body_and_headers_and_returns_the_response(allow, serve, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")  # must be ignored
    server = serve(reply(201, b'{"ok":true}', headers=[("X-Reply", "yes")], delay=0.05))
    allow("127.0.0.1")
    response = outbound.request(
        "POST",
        f"http://127.0.0.1:{server.port}/hooks/in?x=1#frag",
        headers={"Content-Type": "application/json", "X-Signature": "t=1,v1=abc"},
        body=b'{"event":"ping"}',
    )
    assert (response.status_code, response.content) == (201, b'{"ok":true}')
    assert response.headers["x-reply"] == "yes"
    assert 50 <= response.elapsed_ms < 2000
    [seen] = server.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/hooks/in?x=1", b'{"event":"ping"}')
    assert seen.headers["X-Signature"] == "t=1,v1=abc"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"


def test_request_reuses_the_connection(allow, serve):
    server = serve()
    allow("127.0.0.1")
    for _ in range(3):
        assert outbound.request("POST", f"http://127.0.0.1:{server.port}/", body=b"x").content == b"pong"
    assert len({seen.client for seen in server.seen}) == 1


def test_request_reads_at_most_max_response_bytes(allow, serve):
    body = bytes(range(256)) * 40
    server = serve(reply(body=body))
    allow("127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/"
    assert outbound.request("GET", url, max_response_bytes=100).content == body[:100]
    assert outbound.request("GET", url).content == body[:4096]
    assert outbound.request("GET", url, max_response_bytes=len(body)).content == body


def test_a_truncated_response_does_not_corrupt_the_next_one(allow, serve):
    def respond(handler):
        if handler.path == "/small":
            return reply()(handler)
        handler.send_response(200)
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        handler.wfile.write(b"a" * 100)
        time.sleep(0.2)  # the rest arrives after the client has stopped reading
        handler.wfile.write(b"b" * 9900)

    server = serve(respond)
    allow("127.0.0.1")
    assert outbound.request("GET", f"http://127.0.0.1:{server.port}/big", max_response_bytes=100).content == b"a" * 100
    assert outbound.request("GET", f"http://127.0.0.1:{server.port}/small").content == b"pong"


def test_request_does_not_follow_redirects(allow, serve):
    target = serve()
    server = serve(reply(302, b"", headers=[("Location", f"http://127.0.0.1:{target.port}/next")]))
    allow("127.0.0.1")
    response = outbound.request("POST", f"http://127.0.0.1:{server.port}/", body=b"{}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://127.0.0.1:{target.port}/next"
    assert target.seen == []


def test_request_over_ipv6(allow, serve):
    try:
        server = serve(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    allow("::1")
    response = outbound.request("GET", f"http://[::1]:{server.port}/")
    assert response.content == b"pong"
    assert server.seen[0].headers["Host"] == f"[::1]:{server.port}"


def test_connection_refused(allow):
    allow("127.0.0.1")
    with pytest.raises(OutboundError) as raised:
        outbound.request("POST", f"http://127.0.0.1:{closed_port()}/", body=b"{}")
    assert type(raised.value) is OutboundError
    assert str(raised.value) == "Connection refused"


def test_a_server_that_hangs_up(allow, serve):
    server = serve(lambda handler: setattr(handler, "close_connection", True))
    allow("127.0.0.1")
    with pytest.raises(OutboundError, match="^The server closed the connection without a response$"):
        outbound.request("GET", f"http://127.0.0.1:{server.port}/")


def test_a_server_that_does_not_answer_times_out(allow, serve):
    server = serve(lambda handler: handler.server.release.wait(5))
    allow("127.0.0.1")
    started = time.monotonic()
    with pytest.raises(OutboundError, match=r"^Timed out after 0.5 s$"):
        outbound.request("GET", f"http://127.0.0.1:{server.port}/", total_timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 0.8


def trickle(stall_after: int | None):
    """Headers at once, then a byte every 50 ms (stalling after `stall_after` bytes)."""

    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for sent in range(1000):
            if sent == stall_after:
                handler.server.release.wait(5)
            handler.wfile.write(b"x")
            if handler.server.release.wait(0.05):
                return

    return respond


@pytest.mark.parametrize(
    "stall_after",
    [
        None,  # never stops sending: only a deadline checked between reads ends it
        7,  # stalls at 0.35 s: the last read may not wait a full read timeout past the deadline
    ],
)
def test_a_slow_body_is_cut_at_total_timeout(allow, serve, stall_after):
    server = serve(trickle(stall_after))
    allow("127.0.0.1")
    started = time.monotonic()
    with pytest.raises(OutboundError, match=r"^Timed out after 0.5 s$"):
        outbound.request("GET", f"http://127.0.0.1:{server.port}/", total_timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 0.75


def test_an_invalid_header_is_refused_without_echoing_its_value(allow, serve):
    server = serve()
    allow("127.0.0.1")
    with pytest.raises(OutboundError) as raised:
        outbound.request("GET", f"http://127.0.0.1:{server.port}/", headers={"Authorization": "s3cret\r\nX-Evil: 1"})
    assert str(raised.value) == "Invalid request method or header"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert server.seen == []


# --- request(): TLS to a pinned address ----------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for tls.test: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


def test_tls_uses_the_hostname_for_sni_and_certificate_checks(certificate, dns, allow, serve, monkeypatch):
    cert_file, key_file = certificate
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)  # trust our certificate (the OS store is read per connection)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    server = serve(tls=context)
    dns.answers["tls.test"] = [["127.0.0.1"]]
    dns.answers["other.test"] = [["127.0.0.1"]]
    allow("tls.test", "other.test")

    response = outbound.request("GET", f"https://tls.test:{server.port}/")
    assert response.content == b"pong"
    assert server_names == ["tls.test"]
    assert server.seen[0].headers["Host"] == f"tls.test:{server.port}"

    with pytest.raises(OutboundError, match="^TLS certificate verification failed: .*other.test"):
        outbound.request("GET", f"https://other.test:{server.port}/")
    assert len(server.seen) == 1
