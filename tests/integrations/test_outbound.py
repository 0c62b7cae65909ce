"""Outbound requests (pull connectors, webhooks) go only where the guard allowed, and never for long.

Only loopback addresses are ever contacted: a fake DNS answers for `partner.example`, a public address it gives
is served by a loopback receiver, and any other connection attempt fails the test.
"""

import ipaddress
import json
import socket
import threading
from types import SimpleNamespace

import pytest
import urllib3.util.connection
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations import connectors, outbound, webhooks
from integrations.models import PullConnector, WebhookAttempt, WebhookEndpoint
from integrations.services import connector_save
from ketlogistic.core import crypto
from tests.factories import make_order
from tests.http_servers import Recorder, Trickler

pytestmark = pytest.mark.django_db
PUBLIC = "93.184.216.34"  # a public address the fake DNS gives; in these tests a loopback receiver serves it


@pytest.fixture
def network(monkeypatch):
    """Fake DNS for partner.example (answers given in turn, the last one repeated; an answer is an address or a
    list of them) and loopback-only sockets."""
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = urllib3.util.connection.create_connection
    real_connect = socket.socket.connect
    net = SimpleNamespace(answers=[PUBLIC], lookups=0, routes={})

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "partner.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        net.lookups += 1
        answer = net.answers[min(net.lookups, len(net.answers)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in ([answer] if isinstance(answer, str) else answer)
        ]

    def create_connection(address, *args, **kwargs):
        host, port = address
        return real_create_connection((net.routes.get(host, host), port), *args, **kwargs)

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"the test tried to reach {host}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return net


@pytest.fixture
def production_rules(settings):
    """Production's rule for addresses (tests allow private ones); plain http stays allowed for local receivers."""
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
    settings.INTEGRATIONS_ALLOW_HTTP = True


def _connector(user, url):
    return connector_save(
        actor=user,
        partner=user.partner,
        name="CRM",
        url=url,
        schedule="interval",
        mapping={"external_id": "id"},
    )


def _stored(user, url):
    """A connector saved before the guard knew better: the URL is in the table as it was typed."""
    return PullConnector.objects.create(
        partner=user.partner, name="CRM", url=url, mapping={"external_id": "id"}, next_run_at=timezone.now()
    )


# -- the guard ------------------------------------------------------------------------------------------------------


def test_user_info_and_backslashes_are_refused(user_a, network, production_rules):
    with Recorder(default=(200, [], None)) as internal:
        smuggled = f"http://127.0.0.1:{internal.port}\\@8.8.8.8/orders.json"  # host 8.8.8.8 to urlsplit
        with pytest.raises(ValidationError) as refused:
            _connector(user_a, smuggled)
        run = connectors.connector_run(connector=_stored(user_a, smuggled))

        assert internal.requests == []
    assert refused.value.message_dict == {"url": ["The address may not contain a backslash."]}
    assert (run.state, run.error) == ("failed", "The address may not contain a backslash.")
    for url in ("https://user:secret@partner.example/", "https://partner.example@127.0.0.1/"):
        with pytest.raises(outbound.OutboundURLError) as refused:
            outbound.check_outbound_url(url)
        assert str(refused.value) == "The address may not contain a user name or password."
    for url in (
        "https://partner.example/a\\b",
        "https://partner.example/a b",
        "https://partner.example/\x00",
    ):
        with pytest.raises(outbound.OutboundURLError):
            outbound.check_outbound_url(url)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://2130706433/", "Write an IPv4 address as four decimal numbers, such as 203.0.113.10."),
        ("https://0177.0.0.1/", "Write an IPv4 address as four decimal numbers, such as 203.0.113.10."),
        ("https://0x7f.0.0.1/", "Write an IPv4 address as four decimal numbers, such as 203.0.113.10."),
        ("https://127.1/", "Write an IPv4 address as four decimal numbers, such as 203.0.113.10."),
        ("https://partner.example./", "Write the host name without the final dot: partner.example."),
        ("https://ｌｏｃａｌｈｏｓｔ/", "Write the host name as localhost."),
        ("https://[fe80::1%25eth0]/", "An IPv6 address with a zone is not allowed."),
        ("https://part%6eer.example/", "The host name part%6eer.example is not a valid domain name."),
        ("https://partner..example/", "The host name partner..example is not a valid domain name."),
    ],
)
def test_non_canonical_hosts_are_refused(url, error):
    with pytest.raises(outbound.OutboundURLError) as refused:
        outbound.check_outbound_url(url)

    assert str(refused.value) == error


def test_canonical_hosts_pass_and_a_unicode_name_is_sent_as_punycode():
    assert outbound.parse_outbound_url("https://Partner.Example:8443/orders?since=1").host_header == (
        "partner.example:8443"
    )
    target = outbound.parse_outbound_url("https://магазин.kz/заказы")
    assert (target.host, target.path) == ("xn--80aairftm.kz", "/%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7%D1%8B")
    assert outbound.parse_outbound_url("https://[::1]/").host_header == "[::1]"


@pytest.mark.parametrize(
    "answers",
    [
        [[PUBLIC, "10.0.0.5"]],  # one private address among the answers is enough
        ["::ffff:127.0.0.1"],  # IPv4-mapped loopback
        ["2002:7f00:1::1"],  # 6to4 of 127.0.0.1
        ["64:ff9b::a9fe:a9fe"],  # NAT64 of 169.254.169.254
        ["224.0.0.1"],  # multicast
    ],
)
def test_every_address_the_name_resolves_to_is_checked(answers, network, production_rules):
    network.answers = answers

    with pytest.raises(outbound.OutboundURLError) as when_saved:
        outbound.check_outbound_url("http://partner.example/")
    with pytest.raises(outbound.OutboundURLError) as when_sent:
        outbound.request("GET", "http://partner.example/", deadline=5, max_bytes=100)

    assert (
        str(when_saved.value)
        == str(when_sent.value)
        == ("The address points into a private network, which is not allowed.")
    )


def test_outbound_guard_connects_to_the_address_it_checked(user_a, product_a, network, production_rules):
    """DNS rebinding: the name is public when checked, loopback when asked again; the call goes where checked."""
    with Recorder(default=(200, [], None)) as checked:
        with Recorder(default=(200, [], None), host="127.0.0.2", port=checked.port) as rebound:
            network.routes = {PUBLIC: "127.0.0.1"}
            connector = _connector(user_a, f"http://partner.example:{checked.port}/orders.json")
            network.lookups, network.answers = 0, [PUBLIC, "127.0.0.2"]

            run = connectors.connector_run(connector=connector)

            assert rebound.requests == []
        [request] = checked.requests
    assert (run.state, run.http_status, network.lookups) == ("succeeded", 200, 1)
    assert request["headers"]["Host"] == f"partner.example:{checked.port}"
    assert request["path"] == "/orders.json"


def test_redirect_to_refused_address_is_not_followed(user_a, partner_a, product_a, network, production_rules):
    network.routes = {PUBLIC: "127.0.0.1"}
    with Recorder() as internal:
        moved = (302, b"", "text/plain", {"Location": f"{internal.url}/admin"})
        with Recorder(responses=[moved, moved]) as partner_system:
            connector = _connector(user_a, f"http://partner.example:{partner_system.port}/orders.json")
            run = connectors.connector_run(connector=connector)
            webhooks.endpoint_create(
                actor=user_a,
                url=f"http://partner.example:{partner_system.port}/hook",
                events=["order.created"],
            )
            make_order(partner_a, product=product_a)
            webhooks.deliver_due()

            assert len(partner_system.requests) == 2
        assert internal.requests == []
    assert run.error == (
        f"The partner's system answered HTTP 302, a redirect to {internal.url}/admin; redirects are not followed."
    )
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (
        302,
        f"A redirect to {internal.url}/admin; redirects are not followed.",
    )


def test_a_configured_header_never_replaces_the_host(user_a, product_a):
    with pytest.raises(ValidationError) as refused:
        connector_save(
            actor=user_a,
            partner=user_a.partner,
            name="CRM",
            url="http://127.0.0.1:9/x",
            schedule="interval",
            auth_header="Host: redis.internal",
        )
    assert refused.value.message_dict == {"auth_header": ["The header Host is set by the connection itself."]}

    with Recorder(default=(200, [], None)) as partner_system:
        answer = outbound.request(
            "GET", partner_system.url + "/x", headers={"Host": "redis.internal"}, deadline=5, max_bytes=100
        )
        assert partner_system.requests[0]["headers"]["Host"] == f"127.0.0.1:{partner_system.port}"
    assert answer.status == 200


# -- the caps -------------------------------------------------------------------------------------------------------


def test_slow_endpoint_is_cut_at_the_overall_deadline(user_a, partner_a, product_a, settings):
    """Each piece comes in 0.1 s, well inside any per-read timeout; the whole answer would take 2 s."""
    settings.INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS = 0.5
    settings.INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS = 0.5
    with Trickler(b"[" + b" " * 38 + b"]", pieces=20, pause=0.1) as slow:
        run = connectors.connector_run(connector=_connector(user_a, slow.url))
        webhooks.endpoint_create(actor=user_a, url=slow.url, events=["order.created"])
        make_order(partner_a, product=product_a)
        webhooks.deliver_due()

    assert (run.state, run.error) == (
        "failed",
        "The partner's system did not answer: No complete answer within 0.5 s.",
    )
    attempt = WebhookAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (None, "No complete answer within 0.5 s.")
    assert attempt.delivery.state == "pending"


@pytest.fixture
def slow_dns(network, monkeypatch):
    """partner.example's name server answers only when the test ends (or after 2 s, when nothing waits for it)."""
    answered = threading.Event()
    fake_getaddrinfo = socket.getaddrinfo  # the network fixture's

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "partner.example":
            answered.wait(2)
        return fake_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield network
    answered.set()


def test_dns_lookup_counts_against_the_overall_deadline(
    user_a, partner_a, product_a, slow_dns, production_rules, settings, monkeypatch
):
    """A slow name server held a webhook run 30 s and more before the deadline's clock started, past the row's
    claim (deadline + 30 s): another run sent the event meanwhile, and this one sent it again."""
    settings.INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS = 0.2
    settings.INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS = 0.2
    monkeypatch.setattr(outbound, "CHECK_DNS_SECONDS", 0.2)
    with Recorder(default=(200, [], None)) as partner_system:
        slow_dns.routes = {PUBLIC: "127.0.0.1"}
        url = f"http://partner.example:{partner_system.port}/orders.json"
        with pytest.raises(ValidationError) as when_saved:
            _connector(user_a, url)
        run = connectors.connector_run(connector=_stored(user_a, url))
        endpoint = WebhookEndpoint.objects.create(
            partner=partner_a, url=url, events=["order.created"], secret_ciphertext=crypto.encrypt("whsec_x")
        )
        make_order(partner_a, product=product_a)
        webhooks.deliver_due()

        assert partner_system.requests == []
    message = "The host name partner.example did not resolve within 0.2 s."
    assert when_saved.value.message_dict == {"url": [message]}
    assert (run.state, run.error) == ("failed", f"The partner's system did not answer: {message}")
    attempt = WebhookAttempt.objects.get()
    assert (attempt.delivery.endpoint_id, attempt.status_code, attempt.error) == (endpoint.pk, None, message)
    assert (attempt.delivery.state, attempt.delivery.attempts) == ("pending", 1)


def test_response_larger_than_the_cap_is_cut(user_a, product_a, settings):
    settings.INTEGRATIONS_CONNECTOR_MAX_BYTES = 1024
    orders = [{"external_id": f"BIG-{n}", "comment": "x" * 300} for n in range(5)]
    with Recorder(default=(200, orders, None)) as partner_system:
        run = connectors.connector_run(connector=_connector(user_a, partner_system.url))
        answer = outbound.request("GET", partner_system.url, deadline=5, max_bytes=100)

    assert (run.state, run.error) == (
        "failed",
        "The answer is larger than 1.0\xa0KB, the most one run reads.",
    )
    assert (answer.truncated, answer.body) == (True, json.dumps(orders).encode()[:100])


def test_https_goes_to_the_checked_address_with_the_name_for_sni_and_the_certificate(network, monkeypatch):
    import ssl

    import certifi
    import trustme

    ca = trustme.CA()
    names: list[str] = []
    with ca.cert_pem.tempfile() as ca_file:
        monkeypatch.setattr(certifi, "where", lambda: ca_file)
        network.answers = ["127.0.0.1"]
        for cert_name in ("partner.example", "other.example"):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(cert_name).configure_cert(context)
            context.sni_callback = lambda sock, name, context: names.append(name)
            with Recorder(default=(200, [], None), ssl_context=context) as receiver:
                url = f"https://partner.example:{receiver.port}/orders"
                if cert_name == "partner.example":
                    answer = outbound.request("GET", url, deadline=5, max_bytes=100)
                    assert receiver.requests[0]["headers"]["Host"] == f"partner.example:{receiver.port}"
                else:
                    with pytest.raises(outbound.OutboundError) as wrong_certificate:
                        outbound.request("GET", url, deadline=5, max_bytes=100)
                    assert receiver.requests == []

    assert (answer.status, answer.body, names) == (200, b"[]", ["partner.example", "partner.example"])
    assert str(wrong_certificate.value) == (
        "No answer: CertificateError: hostname 'partner.example' doesn't match 'other.example'"
    )


def test_a_server_that_does_not_speak_http_is_a_failed_call_not_a_crash():
    import socketserver
    import threading

    class NotHttp(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(1024)
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), NotHttp) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with pytest.raises(outbound.OutboundError) as failed:
            outbound.request(
                "GET", f"http://127.0.0.1:{server.server_address[1]}/", deadline=5, max_bytes=100
            )
        server.shutdown()

    assert str(failed.value) == "No answer: BadStatusLine: SSH-2.0-OpenSSH_9.6\r\n"
