"""The tenancy helper every issue reuses: prove that partner B cannot read or change partner A's data.

    assert_isolated(owner=client_a, intruder=client_b, url=reverse(...), leaks=["Чайник А"])

The owner must be able to open the page (so the check is not vacuous); the intruder must get 404,
whatever the method, and the answer must contain nothing of A's (`leaks`).
"""

from django.test import Client


def _call(client: Client, method: str, url: str, data=None):
    if method == "get":
        return client.get(url, data or {})
    return (
        getattr(client, method)(url, data or {}, content_type="application/json")
        if method in {"put", "patch", "delete"}
        else client.post(url, data or {})
    )


def assert_hidden(client: Client, url: str, *, method: str = "get", data=None, leaks=(), status: int = 404):
    response = _call(client, method, url, data)
    assert response.status_code == status, (
        f"{method.upper()} {url} answered {response.status_code} to another partner, expected {status}"
    )
    body = response.content.decode("utf-8", errors="replace")
    for text in leaks:
        assert str(text) not in body, f"{method.upper()} {url} leaked {text!r} to another partner"
    return response


def assert_isolated(*, owner: Client, intruder: Client, url: str, method: str = "get", data=None, leaks=()):
    """`owner` reaches the URL; `intruder` gets 404 with none of `leaks` in the answer."""
    if method == "get":
        own = owner.get(url)
        assert own.status_code == 200, f"the owner could not open {url}: {own.status_code}"
        body = own.content.decode("utf-8", errors="replace")
        for text in leaks:
            assert str(text) in body, (
                f"{url} does not show {text!r} even to its owner; the check would be vacuous"
            )
    return assert_hidden(intruder, url, method=method, data=data, leaks=leaks)
