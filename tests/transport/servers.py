"""Loopback HTTP/1.1 servers for transport tests: raw `asyncio.start_server` handlers that
speak HTTP by hand, so that each test can misbehave precisely (close, reset, stall, send
garbage, send bytes nobody asked for, oversized heads, 1xx answers...).

They judge the client by what a server sees: connections accepted, open at once, hung up.
Whatever library is under `HTTPClient`, these are its acceptance tests.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Request:
    method: bytes
    target: bytes
    headers: dict[bytes, bytes]
    body: bytes
    connection: int  # which accepted connection (1, 2, ...) carried it


class Conn:
    """One accepted connection, as a handler sees it."""

    def __init__(self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int):
        self.server, self.reader, self.writer, self.index = server, reader, writer, index

    async def read_head(self) -> Request | None:
        """The next request's line and headers (body unread); None once the client hung up."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.server.hangups += 1
            return None
        line, *lines = head[:-4].split(b"\r\n")
        method, target, _ = line.split(b" ", 2)
        headers = {}
        for header in lines:
            name, _, value = header.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return Request(method, target, headers, b"", self.index)

    async def read_request(self) -> Request | None:
        """The next whole request (Content-Length bodies); None once the client hung up."""
        request = await self.read_head()
        if request is not None:
            request.body = await self.reader.readexactly(int(request.headers.get(b"content-length", b"0")))
            self.server.requests.append(request)
        return request

    async def wait_for_hangup(self) -> None:
        """Read (and drop) everything until the client closes the connection."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.server.hangups += 1

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def respond(self, body: bytes = b"ok", status: int = 200, headers: tuple[bytes, ...] = ()) -> None:
        await self.send(response(body, status, headers))

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class Server:
    """`async with Server(handler) as server`: a loopback server running `handler` per connection.

    Counts what a pool is judged by: connections accepted, open at once (max_active), and
    hung up by the client; `requests` lists every request read with `read_request`.
    """

    handler: Handler
    tls: ssl.SSLContext | None = None
    connections: int = 0
    active: int = 0
    max_active: int = 0
    hangups: int = 0
    requests: list[Request] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports finish closing

    @property
    def origin(self) -> tuple[str, str, int]:
        return ("https" if self.tls else "http", "127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"{self.origin[0]}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self._writers.append(writer)
        # The handler runs in a task of its own, which __aexit__ may cancel (cancelling the
        # task asyncio made for this callback would have asyncio log an error).
        task = asyncio.ensure_future(self.handler(Conn(self, reader, writer, self.connections)))
        self._tasks.add(task)
        try:
            await task
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.active -= 1
            self._tasks.discard(task)
            writer.close()


def response(body: bytes = b"ok", status: int = 200, headers: tuple[bytes, ...] = ()) -> bytes:
    head = [b"HTTP/1.1 %d X" % status, b"content-length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def answer_all(conn: Conn) -> None:
    """Keep-alive: answer every request with `ok <target>`."""
    while (request := await conn.read_request()) is not None:
        await conn.respond(b"ok " + request.target)


async def never_answer(conn: Conn) -> None:
    """Read the request, then say nothing until the client hangs up."""
    if await conn.read_request() is not None:
        await conn.wait_for_hangup()


def make_tls_files(folder: Path) -> Path:
    """A self-signed CA and a leaf certificate it signed for localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "closedpaw test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


def server_context(tls_files: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files / "leaf.pem", tls_files / "leaf.key")
    return context


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
