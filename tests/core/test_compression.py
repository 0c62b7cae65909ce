"""Pages go out gzip-compressed, padded against BREACH; an answer that shows a secret goes out as it is
(ketlogistic/core/compression.py)."""

import gzip

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
FNAME = 0x08  # RFC 1952: the header's flag for a file name field, where Django puts its random padding


def test_an_html_page_goes_out_gzip_compressed_to_a_browser_that_takes_it(client_a):
    plain = client_a.get(reverse("orders:list"))
    response = client_a.get(reverse("orders:list"), **GZIP)

    assert (
        len(plain.content) > 5_000
    )  # a page worth compressing (GZipMiddleware leaves alone under 200 bytes)
    assert "Content-Encoding" not in plain
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    html = gzip.decompress(response.content).decode()
    assert html.rstrip().endswith("</html>") and 'data-testid="nav"' in html
    assert len(response.content) < len(plain.content) / 3
    assert int(response["Content-Length"]) == len(response.content)


def test_a_compressed_page_carries_django_s_random_padding_against_breach(client_a):
    """Django (4.2+) puts 0–99 random bytes in the gzip header's file name ("Heal the Breach")."""
    response = client_a.get(reverse("orders:list"), **GZIP)

    assert response.content[:3] == b"\x1f\x8b\x08"
    assert response.content[3] & FNAME


def test_an_answer_that_shows_a_secret_is_never_compressed(
    client_a, head, login, calling_order, at_tuesday_10
):
    """A new API key, a webhook's signing secret, the customer's numbers: each beside what the user typed."""
    key = client_a.post(reverse("integrations:keys"), {"name": "CRM production"}, **GZIP)
    secret = client_a.post(
        reverse("integrations:webhooks"),
        {"url": "https://hooks.example.kz/ketlogistic", "events": ["order.status_changed"]},
        **GZIP,
    )
    order = calling_order()
    numbers = login(head).post(
        reverse("orders:reveal", args=[order.pk]), {"reason": "Курьер не дозвонился " * 10}, **GZIP
    )

    for response, shown in (
        (key, 'data-testid="key-value"'),
        (secret, 'data-testid="secret"'),
        (numbers, "revealed"),
    ):
        assert response.status_code == 200
        assert "Content-Encoding" not in response
        assert shown in response.content.decode()


def test_a_workbook_is_not_compressed_again(client_a):
    response = client_a.get(reverse("orders:export"), **GZIP)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "Content-Encoding" not in response
