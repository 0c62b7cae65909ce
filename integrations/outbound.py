"""Outbound HTTP to partner systems (webhooks, pull connectors): only to where the guard allowed, and never for long.

A URL typed by a partner could otherwise point at 127.0.0.1:6379 or the cloud metadata service. Production
requires https and public addresses; development and tests may allow local receivers
(`INTEGRATIONS_ALLOW_HTTP`, `INTEGRATIONS_ALLOW_PRIVATE_HOSTS`).

The guard parses the URL once and refuses every form that two parsers may read differently: a user name or
password (`https://127.0.0.1:8844\\@8.8.8.8/` is host 8.8.8.8 to `urlsplit` and 127.0.0.1 to an HTTP client),
backslashes, spaces and control characters, IPv4 addresses written as one number or in octal or hex, a trailing
dot, a name that IDNA maps to another one (full-width letters). It resolves the host once and checks every
address. `request()` then connects to the address that was checked, sending the host name in the Host header
and checking the TLS certificate for it (SNI), never follows a redirect (a 3xx comes back to the caller with its
Location), stops at an overall deadline that counts the DNS lookup too (not a per-read timeout, which a slow
endpoint resets with every byte) and keeps at most `max_bytes` of the answer.

Why hand-written: `requests` resolves the name a second time when it connects (a second DNS answer may point
elsewhere) and has no overall deadline; `advocate`, the library that pinned addresses for requests, is
unmaintained since 2020. urllib3 (requests' own engine, well kept) connects to an IP while verifying the
certificate for a host name, which is all this needs.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import certifi
import idna
import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

from ketlogistic.core import i18n
from ketlogistic.core.i18n import gettext_message

logger = logging.getLogger(__name__)

CONNECT_SECONDS = 5
# How long saving a URL waits for its name to resolve (a web request: as long as a connection may take).
CHECK_DNS_SECONDS = 5
CHUNK_BYTES = 65536
# A last label that is a number makes the whole host an IPv4 address to browsers and some clients.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Headers the connection sets itself: a caller's (a partner's configured header) never replaces them.
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
# NAT64 (RFC 6052) embeds an IPv4 address in the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundURLError(ValueError):
    """The URL is refused: the message says why, for the partner."""


class OutboundError(Exception):
    """The request was made and failed (no answer, the deadline passed, …): the message is for the run log."""


class OutboundTimeout(OutboundError):
    pass


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`) and what to tell the server (`host_header`, `path`)."""

    scheme: str
    host: str  # the canonical host name in ASCII (punycode), or the IP literal
    port: int
    path: str
    addresses: tuple[str, ...] = ()
    is_ip_literal: bool = False

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False  # the answer was longer than max_bytes: `body` holds its first max_bytes
    duration_ms: int = 0
    location: str = field(default="")

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _refuse(message: str):
    raise OutboundURLError(message)


def _canonical_host(host: str) -> tuple[str, bool]:
    """The host in the one form every parser reads alike (ASCII, as typed), or a refusal naming the right form."""
    if not host:
        _refuse(gettext_message("The address has no host name."))
    if ":" in host:  # an IPv6 literal (urlsplit removed the brackets)
        if "%" in host:
            _refuse(gettext_message("An IPv6 address with a zone is not allowed."))
        try:
            return str(ipaddress.IPv6Address(host)), True
        except ValueError:
            _refuse(gettext_message("The host %(host)s is not a valid address.") % {"host": host})
    if host.endswith("."):
        _refuse(
            gettext_message("Write the host name without the final dot: %(host)s.")
            % {"host": host.rstrip(".")}
        )
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        try:
            return str(ipaddress.IPv4Address(host)), True
        except ValueError:
            _refuse(gettext_message("Write an IPv4 address as four decimal numbers, such as 203.0.113.10."))
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        unicode_host = idna.decode(ascii_host)
    except (idna.IDNAError, UnicodeError):
        _refuse(gettext_message("The host name %(host)s is not a valid domain name.") % {"host": host})
    if host not in (ascii_host, unicode_host):
        # full-width letters, other look-alike forms: name the host they stand for instead of guessing
        _refuse(gettext_message("Write the host name as %(host)s.") % {"host": unicode_host})
    if not all(_LABEL.match(label) for label in ascii_host.split(".")) or _NUMERIC_LABEL.match(
        ascii_host.rsplit(".", 1)[-1]
    ):
        _refuse(gettext_message("The host name %(host)s is not a valid domain name.") % {"host": host})
    return ascii_host, False


def parse_outbound_url(url: str) -> Target:
    """Check the URL's form (no DNS): the Target it names, without addresses yet."""
    url = url if isinstance(url, str) else ""
    if "\\" in url:
        _refuse(gettext_message("The address may not contain a backslash."))
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        _refuse(gettext_message("The address may not contain spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        _refuse(gettext_message("The address is not a valid URL."))
    allowed = {"https"} | ({"http"} if settings.INTEGRATIONS_ALLOW_HTTP else set())
    if parts.scheme not in allowed:
        _refuse(gettext_message("The address must start with https://."))
    if port == 0:
        _refuse(gettext_message("The address is not a valid URL."))
    if "@" in parts.netloc:
        _refuse(gettext_message("The address may not contain a user name or password."))
    host, is_ip = _canonical_host(parts.hostname or "")
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=~?")
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
        is_ip_literal=is_ip,
    )


def _refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_multicast or address.is_unspecified:
        return True  # never a partner's server, whatever the setting
    if settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(v4 is not None and _refused_address(v4) for v4 in embedded):
            return True
    return not address.is_global


def _getaddrinfo(host: str, port: int, seconds: float) -> list:
    """`socket.getaddrinfo` given at most `seconds`: a slow name server does not hold the caller past it.

    Why a thread: getaddrinfo has no timeout of its own (the system's resolver retries each name server for 5 s
    and more), and only the system's resolver reads /etc/hosts and nsswitch as every other program on the host
    does (dnspython, which has a lifetime, asks the name servers only). The lookup goes on in a daemon thread
    until the resolver gives up; its answer is then thrown away and it keeps no worker or process from ending.
    """
    outcome: dict[str, object] = {}

    def look_up() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as exc:  # noqa: BLE001 - handed over to the caller's thread as it was raised
            outcome["error"] = exc

    lookup = threading.Thread(target=look_up, name=f"outbound-dns {host}", daemon=True)
    lookup.start()
    lookup.join(max(seconds, 0))
    if lookup.is_alive():
        raise OutboundTimeout(
            gettext_message("The host name %(host)s did not resolve within %(seconds)s s.")
            % {"host": host, "seconds": f"{seconds:g}"}
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["infos"]


def resolve(target: Target, *, seconds: float) -> Target:
    """Resolve the host once, within `seconds`, and check every address it has; the Target now says where to
    connect. A name server slower than that raises OutboundTimeout."""
    if target.is_ip_literal:
        candidates = [target.host]
    else:
        try:
            infos = _getaddrinfo(target.host, target.port, seconds)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundURLError(
                gettext_message("The host name %(host)s does not resolve.") % {"host": target.host}
            ) from exc
        candidates = list(dict.fromkeys(info[4][0] for info in infos))
    addresses = []
    for candidate in candidates:
        address = ipaddress.ip_address(candidate.split("%", 1)[0])
        if _refused_address(address):
            raise OutboundURLError(
                gettext_message("The address points into a private network, which is not allowed.")
            )
        addresses.append(str(address))
    if not addresses:
        raise OutboundURLError(
            gettext_message("The host name %(host)s does not resolve.") % {"host": target.host}
        )
    return dataclasses.replace(target, addresses=tuple(addresses))


def check_outbound_url(url: str) -> Target:
    """What a form checks when a partner saves a URL (DNS only where private addresses are refused): the web
    request waits for the name server at most CHECK_DNS_SECONDS, and a slower one is a refusal to try again."""
    target = parse_outbound_url(url)
    if settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS:
        return target
    try:
        return resolve(target, seconds=CHECK_DNS_SECONDS)
    except OutboundTimeout as exc:
        raise OutboundURLError(i18n.message_of(exc)) from exc


class _Watchdog:
    """Shuts the connection's socket when the overall deadline passes, whatever the server trickles meanwhile."""

    def __init__(self, seconds: float, *, started: float | None = None):
        # `started`: when the call began (before its DNS lookup), so the deadline counts the lookup too
        self.started = time.monotonic() if started is None else started
        self.seconds = seconds
        self.expired = False
        self._sock = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds - (time.monotonic() - self.started), 0), self._fire)
        self._timer.daemon = True

    def left(self) -> float:
        return max(self.seconds - (time.monotonic() - self.started), 0.001)

    def watch(self, sock) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is not None:
            try:
                # the plain socket's shutdown (an SSLSocket's own would drop its TLS state under the reader)
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()


def _connect(target: Target, watchdog: _Watchdog) -> HTTPConnection:
    """Connect to the checked addresses in the order DNS gave them (as any client would), to no other."""
    for index, address in enumerate(target.addresses):
        timeout = min(CONNECT_SECONDS, watchdog.left())
        if target.scheme == "https":
            connection = HTTPSConnection(
                address,
                target.port,
                timeout=timeout,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
                server_hostname=None if target.is_ip_literal else target.host,
                assert_hostname=target.host,
            )
        else:
            connection = HTTPConnection(address, target.port, timeout=timeout)
        try:
            connection.connect()
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, ValueError):
            connection.close()
            if index == len(target.addresses) - 1 or watchdog.expired:
                raise
            continue
        watchdog.watch(connection.sock)
        return connection
    raise OutboundError(
        gettext_message("The host has no address.")
    )  # resolve() never returns a target without one


def _timed_out(deadline: float) -> OutboundTimeout:
    return OutboundTimeout(
        gettext_message("No complete answer within %(seconds)s s.") % {"seconds": f"{deadline:g}"}
    )


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    deadline: float,
    max_bytes: int,
) -> Answer:
    """One HTTP request to the checked address, ended at `deadline` seconds, keeping `max_bytes` of the answer.

    The deadline counts from the start: the DNS lookup, the connection and the answer together end by then.
    Raises OutboundURLError (refused before any connection) or OutboundError (no complete answer in time).
    """
    started = time.monotonic()
    target = resolve(parse_outbound_url(url), seconds=deadline)
    sent_headers = {name: value for name, value in (headers or {}).items() if name.lower() not in OWN_HEADERS}
    sent_headers.update({"Host": target.host_header, "Accept-Encoding": "identity", "Connection": "close"})
    connection = None
    with _Watchdog(deadline, started=started) as watchdog:
        try:
            connection = _connect(target, watchdog)
            connection.sock.settimeout(watchdog.left())
            connection.request(method, target.path, body=body, headers=sent_headers, preload_content=False)
            response = connection.getresponse()
            chunks, size, truncated = [], 0, False
            while True:
                chunk = response.read(CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    truncated = True
                    break
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, ValueError) as exc:
            # ValueError: a header the client refuses to send, a certificate for another name
            if watchdog.expired:
                raise _timed_out(deadline) from exc
            raise OutboundError(
                gettext_message("No answer: %(error)s")
                % {"error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
            ) from exc
        finally:
            if connection is not None:
                connection.close()
        if (
            watchdog.expired
        ):  # the watchdog shut the socket: what was read ended early, not at the answer's end
            raise _timed_out(deadline)
        duration_ms = int((time.monotonic() - watchdog.started) * 1000)
    # the path without its query (a partner may put a key there), as urllib3 used to log it
    logger.debug(
        "%s %s to %s: HTTP %s in %s ms, %s bytes%s",
        method,
        target.path.split("?", 1)[0],
        target.host_header,
        response.status,
        duration_ms,
        size,
        " (cut)" if truncated else "",
    )
    answer_headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(
        status=response.status,
        headers=answer_headers,
        body=b"".join(chunks)[:max_bytes],
        truncated=truncated,
        duration_ms=duration_ms,
        location=answer_headers.get("location", "")[:300],
    )
