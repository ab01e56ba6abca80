"""Fetching image URLs safely over real HTTP: the sandbox for good images, a hostile local server for bad.

Every refusal is checked for its exception class, whether trying again may help, a message a person
understands and, where it matters, that no request (or no second request) was ever made.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generations import services
from generations.downloads import (
    DownloadError,
    HostNotAllowed,
    ImageGone,
    RefusedURL,
    allowing_setting,
    check_image_url,
    fetch_image,
    is_allowed_image_host,
    retention_words,
)
from generations.imaging import InvalidImage, verify_image
from generations.models import Image
from sandbox.config import FaultRates
from tests.conftest import SANDBOX_KEY
from tests.generations.factories import make_generation
from tests.generations.test_imaging import encoded, solid_png
from tools.processes import free_port

CAP = 100_000
QUICK = (1.0, 0.5)  # connect, read: the read budget bounds the whole response
PNG = encoded("PNG", (64, 48))

Behaviour = Callable[[BaseHTTPRequestHandler], None]


# --- A hostile image server ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileServer

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn() DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append((self.path, dict(self.headers)))
        behaviour = owner.routes.get(self.path)
        self.close_connection = True
        try:
            if behaviour is None:
                self.send_error(404)
            else:
                behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on us, as it should

    def log_message(self, format: str, *args: object) -> None:
        pass


class HostileServer:
    """A loopback HTTP server whose paths misbehave on demand; ``requests`` records what was asked."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()  # ends stalling handlers at teardown
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        if tls is not None:  # HTTPS: the handshake happens on accept; a failed one is dropped by socketserver
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def port(self) -> int:
        return self._httpd.server_port

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, behaviour: Behaviour) -> str:
        self.routes[path] = behaviour
        return self.root + path

    def paths(self) -> list[str]:
        return [path for path, _headers in self.requests]

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._thread.join(timeout=5)
        self._httpd.server_close()


def reply(
    body: bytes = b"",
    *,
    status: int = 200,
    content_type: str = "image/png",
    length: int | str | None = "actual",
    headers: dict[str, str] | None = None,
) -> Behaviour:
    """Answer at once; ``length`` is the Content-Length to claim (``None``: none, the body ends at close)."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if length is not None:
            handler.send_header("Content-Length", str(len(body) if length == "actual" else length))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def _image_headers(handler: BaseHTTPRequestHandler, length: int) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


def trickle(handler: BaseHTTPRequestHandler) -> None:
    """Promise a megabyte, then send a byte every 50 ms forever: every read succeeds, the body never ends."""
    _image_headers(handler, 1_000_000)
    while not handler.server.owner.release.wait(0.05):
        handler.wfile.write(b"x")


def stall(handler: BaseHTTPRequestHandler) -> None:
    """Send the headers and a little of the body, then nothing."""
    _image_headers(handler, len(PNG))
    handler.wfile.write(PNG[:100])
    handler.server.owner.release.wait(10)


def silence(handler: BaseHTTPRequestHandler) -> None:
    """Accept the request and never answer."""
    handler.server.owner.release.wait(10)


def chunked(total: int) -> Behaviour:
    """Stream ``total`` bytes with chunked transfer encoding (no Content-Length)."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(0, total, 16_384):
            handler.wfile.write(b"4000\r\n" + bytes(16_384) + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return behave


def chunked_then_dropped(handler: BaseHTTPRequestHandler) -> None:
    """One whole chunk, part of the next, then the connection closes: the last chunk never comes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/png")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"400\r\n" + PNG[:1024] + b"\r\n400\r\n" + PNG[1024:1100])


def reset_mid_body(handler: BaseHTTPRequestHandler) -> None:
    """Declare the whole length, send part of it, then reset the connection (RST, not a clean close)."""
    _image_headers(handler, len(PNG))
    handler.wfile.write(PNG[:200])
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()


@pytest.fixture
def hostile(settings) -> Iterator[HostileServer]:
    """A hostile server on the API's own host and port, so only the behaviour rules stand in the way."""
    server = HostileServer().start()
    settings.PIXELDOJO_BASE_URL = f"{server.root}/api/v1"
    settings.PIXELDOJO_IMAGE_HOSTS = []
    yield server
    server.stop()


@pytest.fixture
def elsewhere(settings) -> None:
    """PixelDojo lives on another host: loopback is nobody's image host unless listed."""
    settings.PIXELDOJO_BASE_URL = "http://pixeldojo.invalid/api/v1"
    settings.PIXELDOJO_IMAGE_HOSTS = []


PUBLIC = "93.184.215.14"  # public addresses (is_global); the fake internet routes them to local servers
OTHER_PUBLIC = "93.184.215.15"


class FakeInternet:
    """Replaces the stdlib resolver, ``socket.getaddrinfo``, for the names and addresses a test scripts.

    A scripted name answers its next answer on each lookup (the last one repeats), as a rebinding DNS
    server would; a routed public address leads to a local port, standing in for that address's server.
    Everything else is resolved for real.
    """

    def __init__(self, real: Callable[..., Any]) -> None:
        self._real = real
        self._answers: dict[str, list[tuple[str, ...]]] = {}
        self._routes: dict[str, int] = {}
        self.lookups: list[str] = []

    def answer(self, name: str, *answers: tuple[str, ...]) -> None:
        self._answers[name] = list(answers)

    def route(self, address: str, port: int) -> None:
        self._routes[address] = port

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, *args: Any) -> list:
        if host in self._routes:
            return self._real("127.0.0.1", self._routes[host], socket.AF_INET, type or socket.SOCK_STREAM)
        if host in self._answers:
            self.lookups.append(host)
            script = self._answers[host]
            addresses = script.pop(0) if len(script) > 1 else script[0]
            return [info for address in addresses for info in self._real(address, port, 0, type, *args)]
        return self._real(host, port, family, type, *args)


@pytest.fixture
def internet(monkeypatch) -> FakeInternet:
    fake = FakeInternet(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture
def servers() -> Iterator[Callable[..., HostileServer]]:
    """Start as many hostile servers as a test needs; all are stopped after it."""
    started: list[HostileServer] = []

    def start(tls: ssl.SSLContext | None = None) -> HostileServer:
        started.append(HostileServer(tls).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """A certificate for ``subject``: a CA when ``issuer`` is None, else a server certificate it signs."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        usage = dict.fromkeys(
            ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"), False
        )
        builder = builder.add_extension(
            x509.KeyUsage(
                **usage,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False
            )
        )
    return builder.sign(signer, hashes.SHA256())


def tls_server_context(folder: Path, name: str, sni: list[str]) -> tuple[Path, ssl.SSLContext]:
    """A CA bundle to trust, and a server TLS context with a certificate for ``name``; SNI goes to ``sni``."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test image CA", ca_key, None, ca_key)
    server = _certificate(name, server_key, ca, ca_key)
    bundle, chain, key = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    context.sni_callback = lambda _socket, server_name, _context: sni.append(server_name)
    return bundle, context


def sandbox_image_url(sandbox) -> str:
    response = requests.post(
        f"{sandbox.base_url}/flux",
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
        json={
            "prompt": "a kite over dunes",
            "model": "flux-pro",
            "megapixels": "0.25",
            "aspect_ratio": "1:1",
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["images"][0]


# --- Good images ----------------------------------------------------------------------------------------


def test_sandbox_image_is_fetched_and_verifies_as_a_png(sandbox, settings):
    data = fetch_image(sandbox_image_url(sandbox), max_bytes=settings.PIXELDOJO_MAX_IMAGE_BYTES)

    verified = verify_image(data)
    assert verified.content_type == "image/png" and verified.width == verified.height


def test_image_exactly_at_the_cap_is_accepted_and_one_byte_less_is_refused(sandbox):
    url = sandbox_image_url(sandbox)
    data = fetch_image(url, max_bytes=10 * 1024 * 1024)

    assert fetch_image(url, max_bytes=len(data)) == data
    with pytest.raises(RefusedURL, match=f"larger than the {len(data) - 1} bytes limit") as caught:
        fetch_image(url, max_bytes=len(data) - 1)
    assert caught.value.retryable is False


def test_plain_image_bytes_are_asked_for_and_returned_whatever_the_declared_type(hostile):
    url = hostile.serve("/a.png", reply(PNG, content_type="image/png; charset=binary"))

    assert fetch_image(url, max_bytes=CAP) == PNG
    assert hostile.requests[0][1]["Accept-Encoding"] == "identity"


# --- Where images may come from -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/a.png",
        "gopher://127.0.0.1:70/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "//127.0.0.1/a.png",
    ],
)
def test_non_http_schemes_are_refused(hostile, url):
    with pytest.raises(RefusedURL, match="non-HTTP URL") as caught:
        fetch_image(url, max_bytes=CAP)
    assert caught.value.retryable is False


def test_unlisted_host_is_refused_before_any_request(hostile, elsewhere):
    url = hostile.serve("/a.png", reply(PNG))

    with pytest.raises(RefusedURL, match=r"127\.0\.0\.1: not an allowed PixelDojo image host") as caught:
        fetch_image(url, max_bytes=CAP)
    assert caught.value.retryable is False
    assert hostile.requests == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]"])
def test_listed_host_resolving_to_loopback_is_refused_before_any_request(hostile, elsewhere, settings, host):
    settings.PIXELDOJO_IMAGE_HOSTS = [host.strip("[]")]
    hostile.serve("/a.png", reply(PNG))

    with pytest.raises(RefusedURL, match="resolves to a private address"):
        fetch_image(f"http://{host}:{hostile.port}/a.png", max_bytes=CAP)
    assert hostile.requests == []


@pytest.mark.parametrize(
    "host",
    [
        *("10.0.0.8", "192.168.1.20", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fd00::1"),  # noqa: S104
        *("64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:10.0.0.1"),  # NAT64, 6to4, mapped: private inside
    ],
)
def test_listed_private_and_tunnelled_private_addresses_are_refused(elsewhere, settings, host):
    settings.PIXELDOJO_IMAGE_HOSTS = [host]
    literal = f"[{host}]" if ":" in host else host

    with pytest.raises(RefusedURL, match="resolves to a private address"):
        check_image_url(f"http://{literal}/a.png")


def test_listed_public_host_is_allowed(elsewhere, settings):
    settings.PIXELDOJO_IMAGE_HOSTS = ["8.8.8.8"]
    check_image_url("http://8.8.8.8/generated/a.png")  # checked, not fetched


def test_api_host_on_another_port_is_refused(hostile):
    other = HostileServer().start()
    try:
        url = other.serve("/a.png", reply(PNG))
        with pytest.raises(RefusedURL, match=f"port {other.port}: PixelDojo answers on port {hostile.port}"):
            fetch_image(url, max_bytes=CAP)
        assert other.requests == []
    finally:
        other.stop()


# --- The address that was checked is the address connected to (no DNS rebinding) ------------------------


@pytest.fixture
def image_host(elsewhere, settings) -> str:
    settings.PIXELDOJO_IMAGE_HOSTS = ["images.example"]
    return "images.example"


def test_listed_host_is_fetched_from_the_checked_address_when_a_second_lookup_would_answer_loopback(
    image_host, internet, servers
):
    checked, rebound = servers(), servers()
    checked.serve("/a.png", reply(PNG))
    rebound.serve("/a.png", reply(b"instance metadata"))
    internet.answer(image_host, (PUBLIC,), ("127.0.0.1",))  # public when checked, loopback when asked again
    internet.route(PUBLIC, checked.port)

    assert fetch_image(f"http://{image_host}:{rebound.port}/a.png", max_bytes=CAP) == PNG

    assert internet.lookups == [image_host]  # looked up once, for the check
    assert checked.paths() == ["/a.png"] and rebound.requests == []
    assert checked.requests[0][1]["Host"] == f"{image_host}:{rebound.port}"


@pytest.mark.parametrize(
    "answer",
    [("127.0.0.1",), (PUBLIC, "127.0.0.1"), (PUBLIC, "169.254.169.254"), ("::ffff:127.0.0.1",)],
    ids=["loopback", "public-and-loopback", "public-and-metadata", "mapped-loopback"],
)
def test_a_name_resolving_to_any_private_address_is_refused_before_any_request(
    image_host, internet, servers, answer
):
    server = servers()
    server.serve("/a.png", reply(PNG))
    internet.answer(image_host, answer)
    internet.route(PUBLIC, server.port)

    with pytest.raises(RefusedURL, match=f"{image_host}: it resolves to a private address") as caught:
        fetch_image(f"http://{image_host}:{server.port}/a.png", max_bytes=CAP)
    assert caught.value.retryable is False
    assert server.requests == []


def test_a_checked_address_refusing_connections_gives_way_to_the_next_checked_one(
    image_host, internet, servers
):
    server = servers()
    server.serve("/a.png", reply(PNG))
    internet.answer(image_host, (OTHER_PUBLIC, PUBLIC), ("127.0.0.1",))
    internet.route(OTHER_PUBLIC, free_port())  # nothing listens there
    internet.route(PUBLIC, server.port)

    assert fetch_image(f"http://{image_host}/a.png", max_bytes=CAP, timeout=QUICK) == PNG
    assert internet.lookups == [image_host] and server.paths() == ["/a.png"]


def test_an_unresolvable_listed_host_is_a_retryable_failure(image_host, internet, servers):
    internet.answer(image_host, ("no-such-host.invalid",))

    with pytest.raises(DownloadError, match=f"Could not look up the image server {image_host}") as caught:
        fetch_image(f"http://{image_host}/a.png", max_bytes=CAP)
    assert caught.value.retryable is True


def test_the_api_host_is_looked_up_once_and_fetched_from_that_answer(settings, internet, servers):
    checked, rebound = servers(), servers()
    checked.serve("/generated/a.png", reply(PNG))
    rebound.serve("/generated/a.png", reply(b"instance metadata"))
    settings.PIXELDOJO_BASE_URL = f"http://pixeldojo.test:{checked.port}/api/v1"
    settings.PIXELDOJO_IMAGE_HOSTS = []
    internet.answer("pixeldojo.test", ("127.0.0.1",), (PUBLIC,))  # the API's host may be loopback (sandbox)
    internet.route(PUBLIC, rebound.port)

    assert fetch_image(f"http://pixeldojo.test:{checked.port}/generated/a.png", max_bytes=CAP) == PNG
    assert internet.lookups == ["pixeldojo.test"] and rebound.requests == []


@pytest.fixture
def api_named(settings) -> str:
    """PixelDojo's API on a name (as pixeldojo.ai is), over plain HTTP so local servers can stand in."""
    settings.PIXELDOJO_BASE_URL = "http://pixeldojo.test/api/v1"
    settings.PIXELDOJO_IMAGE_HOSTS = []
    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = []
    return "pixeldojo.test"


def test_a_subdomain_of_the_api_host_is_an_image_host_by_default_when_public(api_named, internet, servers):
    server = servers()
    server.serve("/generated/a.png", reply(PNG))
    internet.answer("temp.pixeldojo.test", (PUBLIC,))
    internet.route(PUBLIC, server.port)

    url = f"http://temp.pixeldojo.test:{server.port}/generated/a.png"
    assert fetch_image(url, max_bytes=CAP) == PNG
    assert internet.lookups == ["temp.pixeldojo.test"] and server.paths() == ["/generated/a.png"]


@pytest.mark.parametrize("answer", [("127.0.0.1",), (PUBLIC, "10.0.0.8")], ids=["loopback", "partly-private"])
def test_a_subdomain_of_the_api_host_resolving_to_a_private_address_is_refused_for_good(
    api_named, internet, servers, answer
):
    server = servers()
    server.serve("/a.png", reply(PNG))
    internet.answer("temp.pixeldojo.test", answer)
    internet.route(PUBLIC, server.port)

    with pytest.raises(
        RefusedURL, match=r"temp\.pixeldojo\.test: it resolves to a private address"
    ) as caught:
        fetch_image(f"http://temp.pixeldojo.test:{server.port}/a.png", max_bytes=CAP)
    assert not isinstance(caught.value, HostNotAllowed) and caught.value.retryable is False
    assert server.requests == []


@pytest.mark.parametrize("host", ["evilpixeldojo.test", "pixeldojo.test.evil.example", "temp-pixeldojo.test"])
def test_names_that_only_look_like_the_api_host_are_not_allowed_and_not_looked_up(api_named, internet, host):
    internet.answer(host, (PUBLIC,))

    with pytest.raises(HostNotAllowed, match=f"{host}: not an allowed PixelDojo image host") as caught:
        check_image_url(f"http://{host}/a.png")
    assert caught.value.host == host
    assert internet.lookups == []


def test_an_api_host_given_as_an_address_has_no_subdomains(hostile):
    assert is_allowed_image_host("127.0.0.1")
    assert not is_allowed_image_host("x.127.0.0.1")


def test_hosts_operators_allowed_are_fetched_from_when_public(api_named, internet, servers, settings):
    server = servers()
    server.serve("/a.png", reply(PNG))
    internet.answer("images.example", (PUBLIC,))
    internet.route(PUBLIC, server.port)
    url = f"http://images.example:{server.port}/a.png"

    with pytest.raises(HostNotAllowed):
        fetch_image(url, max_bytes=CAP)
    assert fetch_image(url, max_bytes=CAP, extra_hosts=["images.example"]) == PNG


def test_loopback_is_fetched_from_only_for_an_allowed_host_the_test_setting_names(
    hostile, elsewhere, settings
):
    url = hostile.serve("/a.png", reply(PNG)).replace("127.0.0.1", "localhost")
    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = ["localhost"]
    with pytest.raises(HostNotAllowed):  # the setting lets loopback through, it allows no host
        fetch_image(url, max_bytes=CAP)

    settings.PIXELDOJO_IMAGE_HOSTS = ["localhost"]
    assert fetch_image(url, max_bytes=CAP) == PNG

    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = []
    with pytest.raises(RefusedURL, match="resolves to a private address"):
        fetch_image(url, max_bytes=CAP)


def test_the_loopback_test_setting_lets_no_other_private_address_through(image_host, internet, settings):
    settings.PIXELDOJO_IMAGE_HOSTS_LOOPBACK_OK = [image_host]
    internet.answer(image_host, ("10.0.0.8",))

    with pytest.raises(RefusedURL, match="resolves to a private address"):
        check_image_url(f"http://{image_host}/a.png")


def test_the_setting_that_allows_a_host_keeps_the_hosts_listed(settings):
    settings.PIXELDOJO_IMAGE_HOSTS = ["cdn.example"]
    assert allowing_setting("temp.pixeldojo.ai") == "PIXELDOJO_IMAGE_HOSTS=cdn.example,temp.pixeldojo.ai"
    settings.PIXELDOJO_IMAGE_HOSTS = []
    assert allowing_setting("temp.pixeldojo.ai") == "PIXELDOJO_IMAGE_HOSTS=temp.pixeldojo.ai"


def test_https_goes_to_the_checked_address_with_sni_host_and_certificate_checked_for_the_name(
    image_host, internet, servers, tmp_path, monkeypatch
):
    sni: list[str] = []
    bundle, tls = tls_server_context(tmp_path, image_host, sni)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    checked, rebound = servers(tls), servers()
    checked.serve("/a.png", reply(PNG))
    internet.answer(image_host, (PUBLIC,), ("127.0.0.1",))
    internet.route(PUBLIC, checked.port)

    # The certificate names only images.example (not the address connected to): it verifies only by name.
    assert fetch_image(f"https://{image_host}:{rebound.port}/a.png", max_bytes=CAP) == PNG
    assert sni == [image_host]
    assert checked.requests[0][1]["Host"] == f"{image_host}:{rebound.port}"
    assert internet.lookups == [image_host] and rebound.requests == []


def test_https_certificate_for_another_name_is_refused_before_any_request(
    image_host, internet, servers, tmp_path, monkeypatch
):
    bundle, tls = tls_server_context(tmp_path, "other.example", [])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    checked = servers(tls)
    checked.serve("/a.png", reply(PNG))
    internet.answer(image_host, (PUBLIC,))
    internet.route(PUBLIC, checked.port)

    with pytest.raises(DownloadError, match=f"TLS certificate could not be verified for {image_host}"):
        fetch_image(f"https://{image_host}/a.png", max_bytes=CAP, timeout=QUICK)
    assert checked.requests == []


def test_plain_http_is_refused_when_pixeldojo_is_https(settings):
    settings.PIXELDOJO_BASE_URL = "https://localhost/api/v1"  # a name that resolves anywhere
    settings.PIXELDOJO_IMAGE_HOSTS = ["8.8.8.8"]

    check_image_url("https://localhost/generated/a.png")
    for url in ("http://localhost/generated/a.png", "http://8.8.8.8/a.png"):
        with pytest.raises(RefusedURL, match="over plain HTTP: PixelDojo uses HTTPS"):
            check_image_url(url)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("http://evil.example\\@127.0.0.1:{port}/a.png", "malformed"),  # parsers disagree on the host
        ("http://user:secret@127.0.0.1:{port}/a.png", "credentials"),
        ("http://127.0.0.1:{port}\t/a.png", "malformed"),
        ("http://:{port}/a.png", "without a host"),
    ],
)
def test_ambiguous_urls_are_refused_before_any_request(hostile, template, message):
    hostile.serve("/a.png", reply(PNG))

    with pytest.raises(RefusedURL, match=message):
        fetch_image(template.format(port=hostile.port), max_bytes=CAP)
    assert hostile.requests == []


# --- How the answer must look ---------------------------------------------------------------------------


def test_redirects_are_refused_and_never_followed(hostile):
    hostile.serve("/real.png", reply(PNG))
    for target in (f"{hostile.root}/real.png", "http://169.254.169.254/latest/meta-data/"):
        url = hostile.serve("/moved.png", reply(status=302, headers={"Location": target}))
        with pytest.raises(RefusedURL, match=r"redirected to .*; redirects are not followed") as caught:
            fetch_image(url, max_bytes=CAP)
        assert caught.value.retryable is False
    assert "/real.png" not in hostile.paths()


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (403, ImageGone, False),
        (404, ImageGone, False),
        (410, ImageGone, False),
        (400, DownloadError, False),
        (429, DownloadError, True),
        (500, DownloadError, True),
        (503, DownloadError, True),
    ],
)
def test_error_statuses_say_whether_trying_again_may_help(hostile, status, error, retryable):
    url = hostile.serve("/a.png", reply(b"nope", status=status, content_type="text/plain"))

    with pytest.raises(error) as caught:
        fetch_image(url, max_bytes=CAP)
    assert type(caught.value) is error
    assert caught.value.retryable is retryable
    assert ("expired" if error is ImageGone else f"HTTP {status}") in str(caught.value)


def test_expired_sandbox_image_is_gone(sandbox):
    with pytest.raises(ImageGone, match="its 24-hour link expired"):
        fetch_image(f"{sandbox.root_url}/generated/{'0' * 24}_1.png", max_bytes=CAP)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(24 * 3600, "24-hour"), (3600, "1-hour"), (90 * 60, "90-minute"), (90, "90-second"), (0, "0-second")],
)
def test_retention_words_follow_the_setting(settings, seconds, words):
    settings.PIXELDOJO_RETENTION_SECONDS = seconds
    assert retention_words() == words


def test_a_gone_image_names_the_retention_in_force(hostile, settings):
    settings.PIXELDOJO_RETENTION_SECONDS = 90 * 60
    url = hostile.serve("/a.png", reply(b"gone", status=410, content_type="text/plain"))

    with pytest.raises(ImageGone, match="its 90-minute link expired"):
        fetch_image(url, max_bytes=CAP)


def test_declared_size_over_the_cap_is_refused_without_reading_the_body(hostile):
    url = hostile.serve("/huge.png", reply(PNG, length=10 * 1024**3))

    with pytest.raises(RefusedURL, match="larger than the 1 MB limit") as caught:
        fetch_image(url, max_bytes=1024 * 1024)
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "behaviour",
    [reply(bytes(3 * CAP), length=None), chunked(3 * CAP), reply(bytes(3 * CAP), length=CAP + 1)],
    ids=["no-length", "chunked", "declared-just-over"],
)
def test_body_over_the_cap_is_refused_while_streaming(hostile, behaviour):
    url = hostile.serve("/big.png", behaviour)

    with pytest.raises(RefusedURL, match=f"larger than the {CAP} bytes limit"):
        fetch_image(url, max_bytes=CAP)


@pytest.mark.parametrize(
    "behaviour",
    [reply(PNG[:100], length=len(PNG)), chunked_then_dropped, reset_mid_body],
    ids=["shorter-than-content-length", "chunked-without-last-chunk", "reset-mid-body"],
)
def test_body_cut_mid_way_is_a_retryable_download_error_before_any_decoding(hostile, behaviour):
    url = hostile.serve("/short.png", behaviour)

    with pytest.raises(DownloadError, match="cut short") as caught:
        fetch_image(url, max_bytes=CAP)
    assert caught.value.retryable is True


def test_truncated_sandbox_download_is_a_retryable_cut(sandbox):
    url = sandbox_image_url(sandbox)
    sandbox.configure(faults=FaultRates(truncate=1.0))

    with pytest.raises(DownloadError, match="cut short") as caught:
        fetch_image(url, max_bytes=10 * 1024 * 1024)
    assert caught.value.retryable is True


def test_body_longer_than_its_content_length_is_read_only_up_to_that_length(hostile):
    url = hostile.serve("/long.png", reply(PNG + bytes(50_000), length=len(PNG)))

    assert fetch_image(url, max_bytes=CAP) == PNG


def test_compressed_transfer_is_refused(hostile):
    url = hostile.serve("/a.png", reply(gzip.compress(PNG), headers={"Content-Encoding": "gzip"}))

    with pytest.raises(DownloadError, match="gzip-encoded") as caught:
        fetch_image(url, max_bytes=CAP)
    assert caught.value.retryable is False


# --- Time limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [(trickle, "took longer than 0.5 s"), (stall, "took longer than 0.5 s"), (silence, "did not answer")],
    ids=["trickle", "stall-mid-body", "no-answer"],
)
def test_slow_servers_are_abandoned_at_the_read_deadline(hostile, behaviour, message):
    url = hostile.serve("/slow.png", behaviour)

    # The server would go on for as long as the test runs: the message names the deadline that ended it.
    with pytest.raises(DownloadError, match=message) as caught:
        fetch_image(url, max_bytes=10 * 1024 * 1024, timeout=QUICK)
    assert caught.value.retryable is True


def test_unreachable_server_is_a_retryable_failure(settings):
    port = free_port()  # nothing listens there
    settings.PIXELDOJO_BASE_URL = f"http://127.0.0.1:{port}/api/v1"

    with pytest.raises(DownloadError, match="Could not reach the image server") as caught:
        fetch_image(f"http://127.0.0.1:{port}/a.png", max_bytes=CAP, timeout=QUICK)
    assert caught.value.retryable is True


# --- What arrives must be an image ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (solid_png(20_000, 20_000), "too large to decode safely"),
        (b"<html><body>Sign in to continue</body></html>", "not a valid PNG, JPEG or WebP image"),
        (encoded("PNG", (256, 256))[:2_000], r"not a valid PNG image \(damaged or incomplete\)"),
    ],
    ids=["decompression-bomb", "not-an-image", "truncated-png"],
)
def test_downloaded_bytes_that_are_not_a_sane_image_are_refused(hostile, body, message):
    data = fetch_image(hostile.serve("/x.png", reply(body)), max_bytes=CAP)

    with pytest.raises(InvalidImage, match=message):
        verify_image(data)


def test_corrupt_sandbox_image_is_refused(sandbox):
    url = sandbox_image_url(sandbox)
    sandbox.configure(faults=FaultRates(corrupt=1.0))

    data = fetch_image(url, max_bytes=CAP)
    with pytest.raises(InvalidImage, match="not a valid PNG, JPEG or WebP image"):
        verify_image(data)


# --- What a download's outcome does to the image --------------------------------------------------------


def pending_image(user, url: str) -> Image:
    generation = make_generation(user, status="saving")
    return Image.objects.create(
        generation=generation, user_id=user.id, index=0, provider_url=url, status=Image.Status.PENDING
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<html><body>Sign in to continue</body></html>",
            "The file PixelDojo sent is not a valid PNG, JPEG or WebP image; it was not stored.",
        ),
        (
            solid_png(20_000, 20_000),
            "The image PixelDojo sent is too large to decode safely (a likely decompression bomb); "
            "it was not stored.",
        ),
        (
            solid_png(8_500, 8_500),
            "The image PixelDojo sent is too large to decode safely (8500x8500, more than 64,000,000 "
            "pixels); it was not stored.",
        ),
        (
            encoded("PNG", (256, 256))[:2_000],
            "The file PixelDojo sent is not a valid PNG image (damaged or incomplete); it was not stored.",
        ),
    ],
    ids=["not-an-image", "decompression-bomb", "over-the-pixel-limit", "damaged-png"],
)
def test_a_whole_body_that_is_no_usable_image_fails_the_image_after_one_request(
    hostile, alice, media_storage, body, message
):
    image = pending_image(alice, hostile.serve("/x.png", reply(body)))

    assert services.image_persist(image_id=image.id) is None  # nothing to try again

    image.refresh_from_db()
    assert (image.status, image.error_message, image.attempts) == (Image.Status.FAILED, message, 1)
    assert hostile.paths() == ["/x.png"]
    image.generation.refresh_from_db()
    assert image.generation.status == "failed" and image.generation.error_code == "images_lost"
    assert not media_storage.exists()  # nothing was stored


@pytest.mark.django_db
def test_a_cut_body_leaves_the_image_pending_to_be_fetched_again(hostile, alice, media_storage):
    image = pending_image(alice, hostile.serve("/x.png", reply(PNG[:100], length=len(PNG))))

    assert services.image_persist(image_id=image.id) > 0  # seconds before the next try

    image.refresh_from_db()
    assert image.status == Image.Status.PENDING and image.attempts == 1
    assert image.error_message == "The image download was cut short after 100 bytes. Trying again."
    hostile.serve("/x.png", reply(PNG))
    assert services.image_persist(image_id=image.id) is None
    image.refresh_from_db()
    assert image.status == Image.Status.STORED and image.attempts == 2
    assert (media_storage / image.file.name).read_bytes() == PNG
