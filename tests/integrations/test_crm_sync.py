"""What every CRM connector shares (integrations/crm_sync.py), proved with a stand-in adapter: the outbox of our
statuses, its claims under real concurrency, outages and refusals, a connector waiting for its choices, and the
cabinet's pages. Each CRM's own protocol is proved against its double (test_retailcrm.py, test_bitrix24.py)."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import connectors, crm_sync
from integrations.crm import Adapter, CrmClient, CrmError, CrmOrder, Setting
from integrations.models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
from integrations.services import crm_connector_save, crm_pushes_retry
from orders.services import order_send
from tests.factories import make_order
from tests.isolation import assert_hidden

pytestmark = pytest.mark.django_db


class StandIn(Adapter):
    """A CRM adapter whose calls are Python: `orders` to give, `statuses` it knows, what it was asked."""

    kind = "retailcrm"
    settings_fields = (
        Setting("statuses", "Statuses to take", required=True, choices_from="statuses", multiple=True),
        Setting("site", "Store", choices_from="sites"),
    )
    orders: list[CrmOrder] = []
    known = {"new", "assembling", "delivering", "complete"}
    pushed: list[tuple[str, str]] = []
    down = False
    during_push = None

    @classmethod
    def client_for(cls, connector):
        return CrmClient(base_url=connector.url, secret=crm_sync.secret_of(connector))

    def fetch_reference(self):
        return {
            "statuses": [{"code": code, "name": code.title()} for code in sorted(self.known)],
            "sites": [{"code": "shop", "name": "Shop"}],
        }

    def fetch_orders(self):
        if StandIn.down:
            raise CrmError("down", transient=True, status=503)
        return list(StandIn.orders)

    def push_status(self, *, link, code):
        self.client.calls.append(
            {"method": "POST", "path": f"/orders/{link.crm_id}/edit", "status": 200, "ms": 1}
        )
        if StandIn.during_push is not None:
            StandIn.during_push(link, code)
        if StandIn.down:
            raise CrmError("The CRM is busy or down: HTTP 503.", transient=True, status=503)
        if code not in self.known:
            raise CrmError(f"The CRM refused: HTTP 400 (status {code} unknown).", transient=False, status=400)
        StandIn.pushed.append((link.crm_id, code))


@pytest.fixture(autouse=True)
def stand_in(monkeypatch):
    monkeypatch.setitem(crm_sync.ADAPTERS, "retailcrm", StandIn)
    StandIn.orders, StandIn.pushed, StandIn.down, StandIn.during_push = [], [], False, None
    return StandIn


def _row(product, number):
    return {
        "customer_name": f"Клиент {number}",
        "phone": f"+7 701 000 {number:04d}"[:16] if number < 10000 else "+7 701 000 0000",
        "city": "Алматы",
        "address": "ул. Абая, 1",
        "items": [{"sku": product.sku, "quantity": 1, "price": "5000"}],
    }


def _connector(user, **extra):
    return crm_connector_save(
        actor=user,
        partner=user.partner,
        kind="retailcrm",
        name="Магазин",
        url="http://127.0.0.1:9",
        secret="k" * 32,
        settings={"statuses": ["new"]},
        status_map={
            "to_send": "assembling",
            "sent": "delivering",
            "calling": "delivering",
            "paid": "complete",
        },
        **extra,
    )


def _pull(connector):
    return connectors.connector_run(connector=connector)


def test_orders_from_a_crm_arrive_once_linked_with_their_first_status_queued(user_a, product_a):
    StandIn.orders = [
        CrmOrder(crm_id=str(n), number=f"{n}A", site="shop", row=_row(product_a, n)) for n in (1, 2)
    ]
    connector = _connector(user_a)
    first, second = _pull(connector), _pull(connector)

    assert (first.state, first.fetched, first.created) == ("succeeded", 2, 2)
    assert (second.fetched, second.created, second.skipped) == (2, 0, 2)
    links = CrmOrderLink.objects.filter(connector=connector).order_by("crm_id")
    assert [(link.crm_id, link.crm_number, link.crm_site, link.order.external_id) for link in links] == [
        ("1", "1A", "shop", "1"),
        ("2", "2A", "shop", "2"),
    ]
    assert set(CrmStatusPush.objects.values_list("link__crm_id", "code", "state")) == {
        ("1", "assembling", "pending"),
        ("2", "assembling", "pending"),
    }


def test_a_status_change_of_an_order_from_another_channel_costs_no_query(user_a, product_a, head):
    order = make_order(user_a.partner, product=product_a, source="api")
    moved = type("Moved", (), {"order": order})()
    with CaptureQueriesContext(connection) as queries:
        crm_sync.on_order_moved(moved)
    assert len(queries) == 0


def test_the_newest_status_replaces_one_not_yet_sent(user_a, product_a, head):
    StandIn.orders = [CrmOrder(crm_id="7", number="7A", row=_row(product_a, 7))]
    connector = _connector(user_a)
    _pull(connector)
    order = CrmOrderLink.objects.get(crm_id="7").order
    order_send(
        order=order, actor=head
    )  # to_send → sent: its «assembling», not yet sent, gives way to «delivering»

    pending = CrmStatusPush.objects.filter(link__crm_id="7")
    assert [(p.status, p.code, p.state) for p in pending] == [("sent", "delivering", "pending")]
    assert crm_sync.push_due() == 1
    assert StandIn.pushed == [("7", "delivering")]
    link = CrmOrderLink.objects.get(crm_id="7")
    assert (link.sent_code, link.sent_at is not None) == ("delivering", True)
    run = ConnectorRun.objects.get(connector=connector, direction="push")
    assert (run.state, run.pushed, run.push_failed) == ("succeeded", 1, 0)


def test_an_unmapped_status_sends_nothing(user_a, product_a, head):
    StandIn.orders = [CrmOrder(crm_id="8", row=_row(product_a, 8))]
    connector = _connector(user_a)
    connector.status_map = {"paid": "complete"}
    connector.save(update_fields=["status_map"])
    _pull(connector)
    order_send(order=CrmOrderLink.objects.get(crm_id="8").order, actor=head)

    assert not CrmStatusPush.objects.exists()
    assert crm_sync.push_due() == 0 and not ConnectorRun.objects.filter(direction="push").exists()


def test_a_status_given_while_the_old_one_is_being_sent_is_sent_after_it(user_a, product_a, head):
    StandIn.orders = [CrmOrder(crm_id="9", row=_row(product_a, 9))]
    connector = _connector(user_a)
    _pull(connector)
    link = CrmOrderLink.objects.get(crm_id="9")

    def meanwhile(_link, _code):
        StandIn.during_push = None
        crm_sync._queue(connector=connector, link=link, status="paid", now=timezone.now())

    StandIn.during_push = meanwhile
    crm_sync.push_due()
    row = CrmStatusPush.objects.get(link=link)
    assert (row.state, row.code, row.claimed_until) == ("pending", "complete", None)
    crm_sync.push_due()
    assert StandIn.pushed == [("9", "assembling"), ("9", "complete")]
    assert CrmStatusPush.objects.get(link=link).state == "sent"


def test_an_outage_stops_the_sweep_at_its_first_failure_and_every_status_waits(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id=str(n), row=_row(product_a, n)) for n in (11, 12, 13)]
    connector = _connector(user_a)
    _pull(connector)
    StandIn.down = True
    now = timezone.now()
    assert crm_sync.push_due(now=now) == 0

    run = ConnectorRun.objects.get(direction="push")
    assert len(run.calls) == 1, "a CRM that is down is asked once per sweep, not once per status"
    assert (run.state, run.push_failed, "503" in run.error) == ("failed", 3, True)
    rows = CrmStatusPush.objects.all()
    assert {(r.state, r.attempts) for r in rows} == {("pending", 1)}
    assert {r.next_attempt_at for r in rows} == {now + timedelta(minutes=2)}
    assert crm_sync.push_due(now=now + timedelta(minutes=1)) == 0  # nothing due before its time
    StandIn.down = False
    assert crm_sync.push_due(now=now + timedelta(minutes=2)) == 3
    assert sorted(StandIn.pushed) == [("11", "assembling"), ("12", "assembling"), ("13", "assembling")]


def test_a_refused_status_is_kept_with_its_words_and_failed_after_its_tries(user_a, product_a, client_a):
    StandIn.orders = [CrmOrder(crm_id="21", number="21A", row=_row(product_a, 21))]
    connector = _connector(user_a)
    connector.status_map = {"to_send": "no-such-status"}
    connector.save(update_fields=["status_map"])
    _pull(connector)
    now = timezone.now()
    for attempt in range(crm_sync.PUSH_MAX_REFUSALS):
        crm_sync.push_due(now=now + timedelta(days=attempt))
    row = CrmStatusPush.objects.get()
    assert (row.state, row.attempts) == ("failed", crm_sync.PUSH_MAX_REFUSALS)
    assert "no-such-status" in row.last_error

    page = client_a.get(reverse("integrations:connector", args=[connector.pk])).content.decode()
    assert "21A" in page and "no-such-status" in page

    StandIn.known = StandIn.known | {"no-such-status"}
    try:
        assert crm_pushes_retry(actor=user_a, connector=connector) == 1
        crm_sync.push_due()
    finally:
        StandIn.known = StandIn.known - {"no-such-status"}
    assert StandIn.pushed == [("21", "no-such-status")]


def test_send_again_never_sends_a_status_older_than_the_one_sent_since(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id="22", row=_row(product_a, 22))]
    connector = _connector(user_a)
    _pull(connector)
    link = CrmOrderLink.objects.get(crm_id="22")
    CrmStatusPush.objects.filter(link=link).update(state="failed")
    crm_sync._queue(connector=connector, link=link, status="paid", now=timezone.now())
    crm_sync.push_due()

    assert crm_pushes_retry(actor=user_a, connector=connector) == 0
    assert StandIn.pushed == [("22", "complete")]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_send_a_status_twice(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id=str(n), row=_row(product_a, n)) for n in range(31, 41)]
    connector = _connector(user_a)
    _pull(connector)
    inside, go = threading.Event(), threading.Event()

    def hold(_link, _code):
        inside.set()
        go.wait(10)

    StandIn.during_push = hold
    results = []

    def sweep():
        try:
            results.append(crm_sync.push_due())
        finally:
            connection.close()

    first = threading.Thread(target=sweep)
    first.start()
    assert inside.wait(10)
    StandIn.during_push = None
    second = threading.Thread(target=sweep)
    second.start()
    second.join(10)
    go.set()
    first.join(10)

    assert sorted(results) == [0, 10], "the second sweep found every row claimed by the first"
    assert sorted(StandIn.pushed) == sorted((str(n), "assembling") for n in range(31, 41))


def test_a_connector_waits_for_its_required_choices(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id="41", row=_row(product_a, 41))]
    connector = _connector(user_a)
    connector = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        connector=connector,
        kind="retailcrm",
        name="Магазин",
        url=None,
        secret="",
        settings={"statuses": []},
        status_map={},
    )
    assert connector.next_run_at is None
    assert connectors.run_due() == 0
    assert not ConnectorRun.objects.filter(direction="pull").exists()

    run = _pull(connector)  # «Run now» says why nothing comes
    assert run.state == "failed" and "Statuses to take" in run.error
    connector = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        connector=connector,
        kind="retailcrm",
        name="Магазин",
        url=None,
        secret="",
        settings={"statuses": ["new"]},
        status_map={},
    )
    assert connector.next_run_at is not None and connector.next_run_at <= timezone.now()


def test_a_partner_sets_a_crm_connector_up_in_the_cabinet(
    user_a, client_a, product_a, django_capture_on_commit_callbacks
):
    page = client_a.get(reverse("integrations:connector_new") + "?kind=retailcrm")
    assert page.status_code == 200 and "no-reference" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        answer = client_a.post(
            reverse("integrations:connector_new"),
            {
                "kind": "retailcrm",
                "name": "Мой RetailCRM",
                "url": "http://127.0.0.1:9",
                "secret": "secret-key-123",
                "interval_minutes": 5,
                "is_active": "on",
                "set_statuses": "new",
            },
        )
    connector = PullConnector.objects.get(name="Мой RetailCRM")
    assert answer.status_code == 302
    assert (connector.kind, connector.settings["statuses"], crm_sync.secret_of(connector)) == (
        "retailcrm",
        ["new"],
        "secret-key-123",
    )
    check = ConnectorRun.objects.get(connector=connector, direction="check")
    assert check.state == "queued"
    connectors.run_queued(run_id=check.pk)
    connector.refresh_from_db()
    assert {item["code"] for item in connector.reference["statuses"]} == StandIn.known

    edit = client_a.get(reverse("integrations:connector_edit", args=[connector.pk])).content.decode()
    assert "secret-key-123" not in edit
    assert '<option value="complete">Complete (complete)</option>' in edit
    answer = client_a.post(
        reverse("integrations:connector_edit", args=[connector.pk]),
        {
            "kind": "retailcrm",
            "name": "Мой RetailCRM",
            "url": connector.url,
            "secret": "",
            "interval_minutes": 5,
            "is_active": "on",
            "set_statuses": ["new", "assembling"],
            "set_site": "shop",
            "map_paid": "complete",
            "map_refused": "",
        },
    )
    assert answer.status_code == 302
    connector.refresh_from_db()
    assert connector.status_map == {"paid": "complete"}
    assert connector.settings == {"statuses": ["new", "assembling"], "site": "shop"}
    assert crm_sync.secret_of(connector) == "secret-key-123", "an empty key field keeps the saved key"
    assert ConnectorRun.objects.filter(connector=connector, direction="check").count() == 1

    detail = client_a.get(reverse("integrations:connector", args=[connector.pk])).content.decode()
    assert "crm-panel" in detail and "Complete (complete)" in detail


def test_a_status_the_crm_no_longer_lists_stays_offered_and_is_not_dropped(user_a, client_a, product_a):
    connector = _connector(user_a)
    connector.reference = {"statuses": [{"code": "new", "name": "New"}]}
    connector.save(update_fields=["reference"])
    edit = client_a.get(reverse("integrations:connector_edit", args=[connector.pk])).content.decode()
    assert "complete — нет в списке CRM" in edit, "pages are in Russian"


def test_crm_connector_pages_are_isolated(user_a, client_a, client_b, product_a):
    connector = _connector(user_a)
    for name in ("integrations:connector", "integrations:connector_edit"):
        assert_hidden(client_b, reverse(name, args=[connector.pk]), leaks=[connector.name])
    for name in (
        "integrations:connector_check",
        "integrations:connector_resend",
        "integrations:connector_run",
    ):
        assert_hidden(client_b, reverse(name, args=[connector.pk]), method="post")
    assert ConnectorRun.objects.filter(connector=connector, state="queued", direction="pull").count() == 0


def test_a_wrong_setting_is_refused_on_its_field(user_a, client_a):
    answer = client_a.post(
        reverse("integrations:connector_new"),
        {"kind": "retailcrm", "name": "x", "url": "ftp://example.com", "secret": "k", "interval_minutes": 5},
    )
    assert answer.status_code == 200
    assert answer.context["form"].errors.get("url")
    assert not PullConnector.objects.exists()


def test_the_order_card_says_which_crm_order_it_is_and_what_was_sent(user_a, client_a, product_a):
    StandIn.orders = [CrmOrder(crm_id="51", number="51A", site="shop", row=_row(product_a, 51))]
    connector = _connector(user_a)
    _pull(connector)
    order = CrmOrderLink.objects.get(crm_id="51").order
    card = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "crm-order-panel" in card and "51A" in card and "Ждёт передачи" in card
    crm_sync.push_due()
    card = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "assembling" in card and "Ждёт передачи" not in card


def test_runs_and_statuses_sent_are_kept_ninety_days(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id="61", row=_row(product_a, 61))]
    connector = _connector(user_a)
    long_ago = timezone.now() - timedelta(days=91)
    _pull(connector)
    crm_sync.push_due()
    ConnectorRun.objects.update(started_at=long_ago)
    CrmStatusPush.objects.update(sent_at=long_ago)
    recent = _pull(connector)

    assert connectors.forget_old_runs() == 2
    assert list(ConnectorRun.objects.exclude(state="queued").values_list("pk", flat=True)) == [recent.pk]
    assert not CrmStatusPush.objects.exists()
    assert CrmOrderLink.objects.get(crm_id="61").sent_code == "assembling"


def test_a_status_mapped_to_the_crm_status_already_sent_is_not_sent_again(user_a, product_a):
    StandIn.orders = [CrmOrder(crm_id="71", row=_row(product_a, 71))]
    connector = _connector(user_a)
    _pull(connector)
    link = CrmOrderLink.objects.get(crm_id="71")
    crm_sync._queue(connector=connector, link=link, status="sent", now=timezone.now())
    crm_sync.push_due()
    link.refresh_from_db()
    crm_sync._queue(connector=connector, link=link, status="calling", now=timezone.now())  # also «delivering»

    assert StandIn.pushed == [("71", "delivering")]
    assert not CrmStatusPush.objects.filter(state="pending").exists()


def test_a_backlog_of_one_crm_is_sent_a_sweep_at_a_time_and_holds_no_other_back(
    user_a, product_a, monkeypatch
):
    monkeypatch.setattr(StandIn, "pushes_per_sweep", 3)
    StandIn.orders = [CrmOrder(crm_id=str(n), row=_row(product_a, n)) for n in range(81, 88)]
    busy = _connector(user_a)
    _pull(busy)
    StandIn.orders = [CrmOrder(crm_id="91", row=_row(product_a, 91))]
    other = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        kind="retailcrm",
        name="Второй магазин",
        url="http://127.0.0.1:10",
        secret="k" * 32,
        settings={"statuses": ["new"]},
        status_map={"to_send": "assembling"},
    )
    _pull(other)
    CrmStatusPush.objects.filter(connector=other).update(next_attempt_at=timezone.now())  # the newest of all

    assert crm_sync.push_due() == 4
    assert ("91", "assembling") in StandIn.pushed
    assert CrmStatusPush.objects.filter(connector=busy, state="pending").count() == 4
    assert crm_sync.push_due() == 3 and crm_sync.push_due() == 1
    assert len(StandIn.pushed) == 8


def test_a_crm_number_another_order_took_is_refused_with_advice_not_skipped_in_silence(user_a, product_a):
    make_order(user_a.partner, product=product_a, external_id="101")  # e.g. from the API, or a second CRM
    StandIn.orders = [CrmOrder(crm_id="101", number="101A", row=_row(product_a, 101))]
    connector = _connector(user_a)
    run = _pull(connector)

    assert (run.created, run.skipped, run.failed) == (0, 0, 1)
    assert "prefix" in run.shown_errors[0]["errors"]["external_id"][0] and run.errors[0]["number"] == "101A"
    assert not CrmOrderLink.objects.exists()

    connector = crm_connector_save(
        actor=user_a,
        partner=user_a.partner,
        connector=connector,
        kind="retailcrm",
        name="Магазин",
        url=None,
        secret="",
        settings={"statuses": ["new"]},
        status_map={"to_send": "assembling"},
        number_prefix="RC-",
    )
    run = _pull(connector)
    assert (run.created, run.failed) == (1, 0)
    link = CrmOrderLink.objects.get()
    assert (link.crm_id, link.order.external_id) == ("101", "RC-101")
    crm_sync.push_due()
    assert StandIn.pushed == [("101", "assembling")], "the status goes back by the CRM's own id"


def test_a_number_prefix_is_checked(user_a):
    with pytest.raises(ValidationError) as refused:
        _connector(user_a, number_prefix="Б24 ")
    assert "number_prefix" in refused.value.message_dict


def test_the_number_prefix_is_set_in_the_cabinet(user_a, client_a, product_a):
    connector = _connector(user_a)
    answer = client_a.post(
        reverse("integrations:connector_edit", args=[connector.pk]),
        {
            "kind": "retailcrm",
            "name": "Магазин",
            "url": connector.url,
            "interval_minutes": 10,
            "number_prefix": "RC-",
            "is_active": "on",
            "set_statuses": "new",
        },
    )
    assert answer.status_code == 302
    connector.refresh_from_db()
    assert connector.number_prefix == "RC-"
