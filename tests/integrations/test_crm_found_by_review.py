"""The CRM connectors (RetailCRM, Bitrix24) as an attacker, a careless partner and a flaky CRM used them, against
their doubles: each section is a defect the independent review found (docs/RELIABILITY.md §13), its heading says
what went wrong before the fix, and each test states the rule it now proves; plus the attacks that held."""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from integrations import bitrix24, connectors, crm_sync, retailcrm
from integrations.models import ConnectorRun, CrmOrderLink, CrmStatusPush, PullConnector
from integrations.services import crm_connector_save, crm_pushes_retry
from orders.models import Order
from orders.services import order_cancel
from tests.bitrix24_double import Bitrix24Double
from tests.retailcrm_double import RetailCrmDouble

pytestmark = pytest.mark.django_db


KEY = "rcrm-test-key-0123456789abcdef"
STATUS_MAP = {"to_send": "delivering", "cancelled": "cancel-other", "paid": "complete"}


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    monkeypatch.setattr(retailcrm, "CALL_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(retailcrm, "BUSY_RETRY_SECONDS", 0)


def shop_order(crm, **overrides) -> dict:
    fields = {
        "site": "shop-kz",
        "status": "send-to-delivery",
        "lastName": "Серикова",
        "firstName": "Айдана",
        "phone": "+7 701 555 12 34",
        "totalSumm": 25000,
        "delivery": {"address": {"city": "Алматы", "text": "пр. Абая, 10, кв. 5"}},
        "items": [{"quantity": 2, "initialPrice": 12500, "offer": {"article": "A-1"}}],
    }
    fields.update(overrides)
    return crm.add_order(**fields)


def retail_connector(user, crm, *, name="Магазин", status_map=None, **extra) -> PullConnector:
    return crm_connector_save(
        actor=user,
        partner=user.partner,
        kind="retailcrm",
        name=name,
        url=crm.url,
        secret=KEY,
        settings={"statuses": ["send-to-delivery"], "site": "shop-kz"},
        status_map=STATUS_MAP if status_map is None else status_map,
        **extra,
    )


def resave(user, connector, **changes) -> PullConnector:
    """The partner saves the connector's form again with `changes`."""
    connector.refresh_from_db()
    values = {
        "name": connector.name,
        "url": None,
        "secret": "",
        "settings": connector.settings,
        "status_map": connector.status_map,
        "interval_minutes": connector.interval_minutes,
        "is_active": connector.is_active,
        **changes,
    }
    return crm_connector_save(
        actor=user, partner=user.partner, connector=connector, kind=connector.kind, **values
    )


def pull(connector) -> ConnectorRun:
    return connectors.connector_run(connector=PullConnector.objects.get(pk=connector.pk))


# -- 1. was: one partner, two CRMs: the same CRM id is one partner-wide external id ------------------------------------


def test_an_order_of_a_second_crm_account_with_an_id_the_first_used_is_taken_not_skipped(user_a, product_a):
    """Rule: an order must never be lost without anyone noticing. A partner with two shops (two RetailCRM
    accounts, or RetailCRM and Bitrix24) has orders with the same ids in both: each CRM numbers from 1."""
    with RetailCrmDouble(api_key=KEY) as shop1, RetailCrmDouble(api_key=KEY) as shop2:
        first = shop_order(shop1)["id"]
        second = shop_order(shop2, lastName="Другой", phone="+7 702 111 22 33")["id"]
        assert first == second  # both accounts number from the same start
        one = retail_connector(user_a, shop1, name="Магазин 1")
        two = retail_connector(user_a, shop2, name="Магазин 2")
        assert pull(one).created == 1
        run = pull(two)

        assert (run.created, run.skipped, run.failed) == (0, 0, 1), (
            f"shop 2's order was counted as 'already known' (created={run.created}, skipped={run.skipped}): "
            "it would never be delivered, and nobody told"
        )
        assert "prefix" in run.shown_errors[0]["errors"]["external_id"][0]
        two = resave(user_a, two, number_prefix="S2-")
        run = pull(two)
        assert (run.created, run.failed) == (1, 0)
        assert CrmOrderLink.objects.get(connector=two).order.external_id == f"S2-{second}"


def test_an_order_of_a_second_crm_of_another_kind_with_the_same_id_is_taken(user_a, product_a):
    """Rule: an order is never lost silently: RetailCRM's order 101 and Bitrix24's deal 101 are two orders."""
    with RetailCrmDouble(api_key=KEY) as shop, Bitrix24Double() as portal:
        retail_id = shop_order(shop)["id"]
        contact = portal.add_contact(
            name="Ерлан",
            last_name="Ахметов",
            phones=["+7 705 999 00 11"],
            city="Алматы",
            address="ул. Сатпаева, 5",
        )
        kettle = portal.add_product(name="Чайник", xml_id="A-1", price="12500")
        deal_id = portal.add_deal(stage="NEW", contact=contact, rows=[(kettle, 1, "12500")])
        assert str(retail_id) == deal_id
        retail = retail_connector(user_a, shop)
        b24 = crm_connector_save(
            actor=user_a,
            partner=user_a.partner,
            kind="bitrix24",
            name="Bitrix24",
            url=portal.webhook_url,
            secret=None,
            settings={"stage": "NEW"},
            status_map={"to_send": "PREPARATION"},
        )
        pull(retail)
        run = pull(b24)

        assert (run.created, run.skipped, run.failed) == (0, 0, 1), (
            "the deal is refused with advice, not skipped"
        )
        b24 = resave(user_a, b24, number_prefix="B24-")
        assert pull(b24).created == 1
        assert CrmOrderLink.objects.filter(connector=b24).count() == 1


# -- 2. was: the address changed to another account: old links act on the new account's orders ---------------------------


def test_moving_a_connector_to_another_account_never_sets_our_status_on_that_accounts_orders(
    user_a, product_a
):
    """Rule: a status goes to the order it belongs to, never to a stranger's. The partner points an existing
    connector at a new RetailCRM account (a new shop, a migrated account): links keep the old account's ids."""
    with RetailCrmDouble(api_key=KEY) as old, RetailCrmDouble(api_key=KEY) as new:
        ours = shop_order(old)["id"]
        stranger = shop_order(new, status="new", lastName="Чужой")["id"]  # not given to delivery
        assert ours == stranger
        connector = retail_connector(user_a, old)
        pull(connector)  # our order taken; its first status waits to go back
        with pytest.raises(ValidationError) as refused:
            resave(user_a, connector, url=new.url)
        assert "create a new connector" in refused.value.message_dict["url"][0]
        crm_sync.push_due()

        assert new.statuses_set(stranger) == [], "the new account's unrelated order was set to «delivering»"
        assert old.statuses_set(ours) == ["delivering"]


# -- 3. was: the partner fixes the status map: waiting and failed statuses keep the wrong code -------------------------


def test_send_again_after_fixing_the_status_map_sends_the_fixed_status(user_a, product_a):
    """Rule (docs/connectors/retailcrm.md: «tried again a few times (you may fix the map meanwhile)», and
    crm_pushes_retry's docstring: «e.g. after the partner fixed the status map»): after the fix, the CRM gets the
    status the map now says."""
    with RetailCrmDouble(api_key=KEY) as shop:
        order_id = shop_order(shop)["id"]
        connector = retail_connector(user_a, shop, status_map={"to_send": "delivering-typo"})
        pull(connector)
        now = timezone.now()
        crm_sync.push_due(now=now)  # refused: no such status
        resave(user_a, connector, status_map={"to_send": "delivering"})  # the partner fixes the map
        for day in range(1, crm_sync.PUSH_MAX_REFUSALS + 1):
            crm_sync.push_due(now=now + timedelta(days=day))
        crm_pushes_retry(actor=user_a, connector=connector)  # «Send them again»
        crm_sync.push_due(now=now + timedelta(days=30))

        assert shop.statuses_set(order_id) == ["delivering"], (
            f"the CRM never got the fixed status; rows: "
            f"{list(CrmStatusPush.objects.values_list('code', 'state', 'last_error'))}"
        )


# -- 4. was: a connector paused and resumed: statuses of the pause are lost, a stale one is kept -----------------------


def test_a_status_changed_while_the_connector_was_paused_reaches_the_crm_when_it_is_resumed(
    user_a, product_a
):
    """Rule: a status is never lost without anyone noticing. The partner pauses the connector (is_active off) for
    a while; orders move meanwhile; once resumed, the CRM must show where each order is now."""
    with RetailCrmDouble(api_key=KEY) as shop:
        order_id = shop_order(shop)["id"]
        connector = retail_connector(user_a, shop)
        pull(connector)
        crm_sync.push_due()
        assert shop.statuses_set(order_id) == ["delivering"]
        resave(user_a, connector, is_active=False)
        order = CrmOrderLink.objects.get(connector=connector).order
        order_cancel(order=order, actor=user_a, source="cabinet")
        resave(user_a, connector, is_active=True)
        crm_sync.push_due()

        assert Order.objects.get(pk=order.pk).status == "cancelled"
        assert shop.statuses_set(order_id)[-1] == "cancel-other", (
            "the cancellation made while the connector was paused is lost: the CRM still says «delivering» and "
            "nothing shows a status is missing"
        )


# -- helpers for a misbehaving CRM --------------------------------------------------------------------------------


class OddCrm:
    """A CRM that answers what it is told: `answers` maps the end of a path to (status, headers, body bytes)."""

    def __init__(self, answers: dict):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answers = answers
        self.paths: list[str] = []
        odd = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                odd.paths.append(path)
                status, headers, body = next(
                    (v for k, v in odd.answers.items() if path.endswith(k)), (404, {}, b"{}")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value.replace("{path}", self.path))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


B24_CODE = "k2xw7d1c2ckqv9m0"


def b24_connector(user, url, *, stage="NEW", status_map=None) -> PullConnector:
    return crm_connector_save(
        actor=user,
        partner=user.partner,
        kind="bitrix24",
        name="Bitrix24",
        url=url,
        secret=None,
        settings={"stage": stage},
        status_map={"to_send": "PREPARATION"} if status_map is None else status_map,
    )


HOSTILE = {
    # RetailCRM answering a deeply nested JSON (4 MB are allowed; 200 kB of brackets do)
    "retailcrm-nested-json": ("retailcrm", {"/api/v5/orders": (200, {}, b"[" * 200_000)}),
    # Bitrix24 answering a deal whose ID is a digit Python's isdigit() takes and int() refuses
    "bitrix24-superscript-id": (
        "bitrix24",
        {"/crm.deal.list.json": (200, {}, '{"result": [{"ID": "²"}], "time": {}}'.encode())},
    ),
    # Bitrix24 answering a contact whose PHONE is a number instead of a list of objects
    "bitrix24-phone-number": (
        "bitrix24",
        {
            "/crm.deal.list.json": (200, {}, b'{"result": [{"ID": "5", "CONTACT_ID": "7"}], "time": {}}'),
            "/batch.json": (
                200,
                {},
                b'{"result": {"result": {"rows5": [], "contacts0": [{"ID": "7", "PHONE": 5}]},'
                b' "result_error": []}, "time": {}}',
            ),
        },
    ),
}


# -- 5. was: a misbehaving CRM's answer breaks the run and every connector after it -----------------------------------


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_odd_crm_answer_fails_its_own_run_and_holds_no_other_partner_back(
    case, user_a, user_b, partner_b, product_a
):
    """Rules: no input ever produces a crash (a CRM's answer is input); one partner's CRM never holds another's
    orders back. The odd connector is due first; partner B's healthy RetailCRM right after it in the same tick."""
    from tests.factories import ProductFactory

    ProductFactory(partner=partner_b, sku="A-1", name="Чайник Б")
    kind, answers = HOSTILE[case]
    with OddCrm(answers) as odd, RetailCrmDouble(api_key=KEY) as healthy:
        shop_order(healthy)
        if kind == "retailcrm":
            bad = crm_connector_save(
                actor=user_a,
                partner=user_a.partner,
                kind="retailcrm",
                name="Odd",
                url=odd.url,
                secret=KEY,
                settings={"statuses": ["send-to-delivery"]},
                status_map={},
            )
        else:
            bad = b24_connector(user_a, f"{odd.url}/rest/1/{B24_CODE}/")
        good = retail_connector(user_b, healthy)
        now = timezone.now()
        PullConnector.objects.filter(pk=bad.pk).update(next_run_at=now - timedelta(minutes=2))
        PullConnector.objects.filter(pk=good.pk).update(next_run_at=now - timedelta(minutes=1))

        try:
            ran = connectors.run_due(now=now)
        except Exception as exc:  # noqa: BLE001 - nothing may escape
            pytest.fail(
                f"run_due crashed with {exc.__class__.__name__}: {str(exc)[:80]}; partner B's due connector was "
                f"not run (orders: {Order.objects.filter(partner=partner_b).count()}), the odd run is left "
                f"{list(ConnectorRun.objects.filter(connector=bad).values_list('state', flat=True))}"
            )
        assert ran == 2
        assert Order.objects.filter(partner=partner_b).count() == 1
        # the odd run ends, logged: failed (an answer we cannot read) or done with the odd order refused or left out
        assert ConnectorRun.objects.get(connector=bad, direction="pull").state in ("failed", "succeeded")


# -- 6. was: a claim that ran out while its sweep still sends: a second sweep sends too, the first one a stale status ---


@pytest.mark.django_db(transaction=True)
def test_a_sweep_reaching_a_status_another_sweep_took_since_never_sends_it_again_nor_an_older_one(
    user_a, product_a, monkeypatch
):
    """Rules: a status is sent once, and never an older one after a newer one. One sweep sends up to 200 statuses
    one call each: it may reach its last rows after their claim ran out, when the next sweep has taken them. Order
    B is cancelled while the first sweep is busy with order A; the second sweep (6 minutes later) takes B and sends
    its cancellation; the first then reaches B and must leave it. (A call itself never outlasts the claim: its
    deadline is 30 s, the claim renewed right before it lasts PUSH_CLAIM.)"""
    with RetailCrmDouble(api_key=KEY) as shop:
        a = shop_order(shop)["id"]
        b = shop_order(shop, lastName="Второй", phone="+7 702 222 33 44")["id"]
        connector = retail_connector(user_a, shop)
        pull(connector)
        order_b = CrmOrderLink.objects.get(connector=connector, crm_id=str(b)).order
        start = timezone.now()
        original_take = crm_sync._take
        met = []

        def take(row, *, token):
            if row.link.crm_id == str(b) and not met:
                met.append(token)
                order_cancel(order=order_b, actor=user_a, source="cabinet")
                later = threading.Thread(
                    target=lambda: (crm_sync.push_due(now=start + timedelta(minutes=6)), connection.close())
                )
                later.start()
                later.join(30)
            return original_take(row, token=token)

        monkeypatch.setattr(crm_sync, "_take", take)
        with time_machine.travel(start, tick=False):
            crm_sync.push_due(now=start)

        assert met, "the first sweep reached order B"
        assert shop.statuses_set(b) == ["cancel-other"], f"order B was told {shop.statuses_set(b)}"
        assert shop.statuses_set(a) == ["delivering"], f"order A was sent {shop.statuses_set(a)}"


def test_a_status_call_never_outlasts_its_claim():
    """The claim renewed right before a call outlasts the call's whole deadline (and a busy CRM's one retry) by far:
    no other sweep can take a row while its status is on the wire."""
    from django.conf import settings

    assert crm_sync.PUSH_CLAIM > timedelta(seconds=4 * settings.INTEGRATIONS_CONNECTOR_DEADLINE_SECONDS + 10)


# -- 7. was: Bitrix24: deals that stay in the stage fill every pull, newer deals are never read -----------------------


def test_bitrix24_deals_still_in_the_stage_never_keep_a_newer_deal_out(user_a, product_a, monkeypatch):
    """Rule: an order is never lost without anyone noticing. A pull reads MAX_PAGES pages by ID from 0 every run;
    deals already taken that stay in the stage (the partner mapped no first status, or Bitrix24 will not move them)
    come first every time. MAX_PAGES is made 1 here (50 deals) instead of 10 (500) to keep the test small."""
    monkeypatch.setattr(bitrix24, "MAX_PAGES", 1)
    with Bitrix24Double() as portal:
        kettle = portal.add_product(name="Чайник", xml_id="A-1", price="12500")

        def deal(n):
            contact = portal.add_contact(
                name="Клиент",
                last_name=f"Номер-{n}",
                phones=[f"+7 701 {n:03d} 22 33"],
                city="Алматы",
                address=f"пр. Абая, {n}",
            )
            return portal.add_deal(stage="NEW", contact=contact, rows=[(kettle, 1, "12500")])

        for n in range(bitrix24.PAGE):
            deal(n)
        connector = b24_connector(user_a, portal.webhook_url, status_map={"paid": "WON"})
        first = pull(connector)
        assert first.created == bitrix24.PAGE
        newer = deal(999)
        runs = [pull(connector) for _ in range(3)]

        assert CrmOrderLink.objects.filter(connector=connector, crm_id=newer).exists(), (
            f"deal {newer} waits in the stage and is never read: runs say "
            f"{[(r.state, r.fetched, r.created, r.skipped) for r in runs]}"
        )


# -- 8. was: «Send again» and an order's status change at the same moment: the order's change fails --------------------


def _wait_until_blocked(pid_holder: dict, seconds: float = 10) -> bool:
    """True once the other thread's connection waits for a lock (it is blocked on our open transaction)."""
    deadline = time.monotonic() + seconds
    from django.db import connections

    probe = connections.create_connection("default")
    try:
        while time.monotonic() < deadline:
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                    [pid_holder.get("pid", -1)],
                )
                if cursor.fetchone()[0]:
                    return True
            time.sleep(0.02)
        return False
    finally:
        probe.close()


@pytest.mark.django_db(transaction=True)
def test_send_again_at_the_moment_an_order_moves_never_fails_the_orders_status_change(user_a, product_a):
    """Rules: a CRM (or its outbox) never blocks nor fails an order's status change; a double click or two people
    at once have the effect of once. The partner clicks «Send them again» on the connector's page while an operator
    cancels one of the orders whose status had failed."""
    with RetailCrmDouble(api_key=KEY) as shop:
        shop_order(shop)
        connector = retail_connector(user_a, shop)
        pull(connector)
        link = CrmOrderLink.objects.get(connector=connector)
        CrmStatusPush.objects.filter(link=link).update(state="failed", attempts=5, last_error="refused")
        order = link.order
        retry_open, retry_go, mover = threading.Event(), threading.Event(), {}

        def retry():
            try:
                with transaction.atomic():
                    crm_pushes_retry(actor=user_a, connector=connector)
                    retry_open.set()
                    retry_go.wait(10)
            finally:
                connection.close()

        def move():
            try:
                mover["pid"] = connection.cursor().connection.info.backend_pid
                order_cancel(order=order.pk, actor=user_a, source="cabinet")
                mover["result"] = "moved"
            except Exception as exc:  # noqa: BLE001
                mover["result"] = f"{exc.__class__.__name__}: {str(exc)[:120]}"
            finally:
                connection.close()

        first = threading.Thread(target=retry)
        first.start()
        assert retry_open.wait(10)
        second = threading.Thread(target=move)
        second.start()
        blocked = _wait_until_blocked(mover)
        retry_go.set()
        first.join(10)
        second.join(10)

        assert blocked, "the order's change did not wait on the retry (the race was not reproduced)"
        assert mover["result"] == "moved", f"the order's cancellation failed: {mover['result']}"
        assert Order.objects.get(pk=order.pk).status == "cancelled"


# -- 9. was: a pull writes each new order's first status with two queries of its own -----------------------------------


def test_a_pull_costs_the_same_queries_for_3_or_30_orders(user_a, product_a):
    """Rule: speed, no query per row. A pull of up to 5000 orders queues their first statuses one by one
    (`_queue`: an UPDATE and an INSERT per new link)."""
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for size in (3, 30):
        with RetailCrmDouble(api_key=KEY) as shop:
            for n in range(size):
                shop_order(shop, id=size * 1000 + n, phone=f"+7 701 555 {n:02d} 34")
            connector = retail_connector(user_a, shop, name=f"Магазин {size}")
            connector = PullConnector.objects.get(pk=connector.pk)
            with CaptureQueriesContext(connection) as queries:
                run = connectors.connector_run(connector=connector)
            assert run.created == size
            pushes = [q["sql"] for q in queries.captured_queries if "integrations_crmstatuspush" in q["sql"]]
            counts[size] = (len(queries), len(pushes))

    assert counts[30][0] - counts[3][0] < 10, f"queries (all, outbox) for 3 and 30 orders: {counts}"


# -- 10. was: a redirect's Location carries the Bitrix24 webhook code into the run log ---------------------------------


def test_a_bitrix24_redirect_never_puts_the_webhook_code_in_the_run_log(user_a, product_a):
    """Rule: secrets never leak (run logs, pages). A portal renamed (bitrix24.ru → bitrix24.kz) or moved to its
    own domain answers 301 to the same path on its new address; the run's error shows the Location as it came."""
    with OddCrm({".json": (301, {"Location": "https://new-portal.bitrix24.kz{path}"}, b"")}) as moved:
        connector = b24_connector(user_a, f"{moved.url}/rest/1/{B24_CODE}/")
        run = pull(connector)

        assert run.state == "failed"
        assert B24_CODE not in run.error, f"the run log shows the webhook's code: {run.error}"
        assert B24_CODE not in str(run.calls)


# -- probes that held (kept as regression tests) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254",
        "https://localhost:8443",
        "https://127.0.0.1",
        "https://[::ffff:127.0.0.1]",
        "https://2130706433",
        "https://0x7f.1",
        "https://metadata.google.internal",
        "http://example.com",
    ],
)
def test_in_production_a_crm_address_inside_our_network_is_refused_on_its_field(user_a, settings, url):
    from django.core.exceptions import ValidationError

    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
    settings.INTEGRATIONS_ALLOW_HTTP = False
    for kind, address in (("retailcrm", url), ("bitrix24", f"{url}/rest/1/{B24_CODE}/")):
        with pytest.raises(ValidationError) as refused:
            crm_connector_save(
                actor=user_a,
                partner=user_a.partner,
                kind=kind,
                name="x",
                url=address,
                secret=KEY if kind == "retailcrm" else None,
                settings={},
                status_map={},
            )
        assert "url" in refused.value.message_dict
    assert not PullConnector.objects.exists()


def test_in_production_a_saved_address_that_now_resolves_inside_is_refused_at_the_call(user_a, settings):
    """DNS rebinding: the guard resolves again at each call and connects to what it checked."""
    with RetailCrmDouble(api_key=KEY) as shop:
        connector = retail_connector(user_a, shop)
        settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
        run = pull(connector)
    assert run.state == "failed" and "private" in run.error
    assert shop.requests == [] or all(r["method"] != "GET" for r in shop.requests[1:])


def test_crafted_posts_change_nothing_and_answer_a_form(user_a, user_b, client_a, partner_b):
    from django.urls import reverse

    base = {
        "name": "x",
        "url": "http://127.0.0.1:9",
        "secret": "k" * 20,
        "interval_minutes": 5,
        "is_active": "on",
    }
    cases = [
        {**base, "kind": "retailcrm", "name": "a\x00b"},
        {**base, "kind": "retailcrm", "set_statuses": ",".join(f"s{n}" for n in range(60))},
        {**base, "kind": "retailcrm", "set_statuses": "new", "map_to_send": "x" * 65},
        {**base, "kind": "retailcrm", "set_statuses": "new", "map_to_send": "ok\x00"},
        {**base, "kind": "retailcrm", "set_statuses": "new", "set_sku_from": "id"},
        {**base, "kind": "retailcrm", "set_statuses": "new", "interval_minutes": "0"},
        {**base, "kind": "retailcrm", "set_statuses": "new", "secret": "short"},
        {**base, "kind": "bitrix24", "url": "https://portal.bitrix24.kz/rest/1/abc/"},
        {**base, "kind": "bitrix24", "url": "https://portal.bitrix24.kz/rest/1/abcdef123/?auth=x"},
    ]
    for data in cases:
        answer = client_a.post(reverse("integrations:connector_new"), data)
        assert answer.status_code in (200, 400), data  # 400: the site refuses NUL bytes in any request
    assert not PullConnector.objects.exists()
    # another partner's id in the form is not taken: the partner's own is
    answer = client_a.post(
        reverse("integrations:connector_new"),
        {**base, "kind": "retailcrm", "partner": partner_b.pk, "set_statuses": "new"},
    )
    assert answer.status_code == 302
    assert PullConnector.objects.get().partner_id == user_a.partner_id


def test_a_connectors_kind_cannot_be_switched_by_a_crafted_post(user_a, client_a, product_a):
    from django.urls import reverse

    with RetailCrmDouble(api_key=KEY) as shop:
        connector = retail_connector(user_a, shop)
        answer = client_a.post(
            reverse("integrations:connector_edit", args=[connector.pk]),
            {
                "kind": "bitrix24",
                "name": "x",
                "url": f"{shop.url}/rest/1/{B24_CODE}/",
                "interval_minutes": 5,
                "set_statuses": "send-to-delivery",
            },
        )
    connector.refresh_from_db()
    assert connector.kind == "retailcrm" and answer.status_code in (200, 302)


def test_odd_retailcrm_values_never_crash_a_pull_and_money_is_exact(user_a, product_a):
    with RetailCrmDouble(api_key=KEY) as shop:
        odd = [
            {"totalSumm": "25000.50", "prepaySum": "0.50"},
            {"totalSumm": 1e400},
            {"totalSumm": "NaN"},
            {"totalSumm": 10**40},
            {"totalSumm": None, "prepaySum": None},
            {"totalSumm": {"x": 1}},
            {"items": [{"quantity": 10**20, "initialPrice": 1, "offer": {"article": "A-1"}}]},
            {
                "items": [
                    {
                        "quantity": "2",
                        "initialPrice": "12500",
                        "discountTotal": "abc",
                        "offer": {"article": "A-1"},
                    }
                ]
            },
            {"lastName": ["nested"], "firstName": {"x": None}, "phone": 77015551234},
            {"delivery": {"address": {"city": "Алматы", "text": "x" * 5000}}, "customerComment": "\x00" * 3},
            {"id": 10**70},
        ]
        ids = [shop_order(shop, **fields)["id"] for fields in odd]
        connector = retail_connector(user_a, shop)
        run = pull(connector)
    assert run.state == "succeeded", run.error
    assert run.created + run.failed == len(ids), (run.created, run.failed, run.errors)
    first = CrmOrderLink.objects.get(connector=connector, crm_id=str(ids[0])).order
    from decimal import Decimal

    assert first.cod_amount == Decimal("25000.00")


# -- 11. was: a sum the adapter cannot read but the intake can: the wrong number becomes the COD ----------------------


@pytest.mark.parametrize(
    "fields, owed",
    [
        ({"totalSumm": 30000, "prepaySum": "5 000"}, "25000"),  # the COD became 5 000: 25 000 not collected
        (
            {"totalSumm": "30 000", "prepaySum": 5000},
            "25000",
        ),  # the COD became 30 000: the prepayment paid twice
        ({"totalSumm": 30000, "prepaySum": "5000,00"}, "25000"),
    ],
)
def test_a_cod_is_the_total_less_the_prepayment_or_the_order_is_refused(user_a, product_a, fields, owed):
    """Rules: money is never lost or doubled without anyone noticing; bad input gets a clear error. RetailCRM's
    `crm_order` hands a value it cannot read to the intake «to say it is no sum», but the intake reads «5 000» and
    «5000,00» as sums: the prepayment alone (or the total alone) becomes the sum the courier collects."""
    from decimal import Decimal

    with RetailCrmDouble(api_key=KEY) as shop:
        crm_id = shop_order(shop, **fields)["id"]
        connector = retail_connector(user_a, shop)
        run = pull(connector)
    link = (
        CrmOrderLink.objects.filter(connector=connector, crm_id=str(crm_id)).select_related("order").first()
    )
    if link is not None:
        assert link.order.cod_amount == Decimal(owed), (
            f"the courier is to collect {link.order.cod_amount} where {owed} is owed ({fields})"
        )
    else:
        assert run.failed == 1 and "cod_amount" in str(run.errors)


def test_a_negative_prepayment_is_refused_not_added_to_what_the_courier_collects(user_a, product_a):
    """Rule: bad input gets a clear specific error and changes nothing (here: the customer asked for more than the
    order's total)."""
    with RetailCrmDouble(api_key=KEY) as shop:
        crm_id = shop_order(shop, totalSumm=30000, prepaySum=-5000)["id"]
        connector = retail_connector(user_a, shop)
        pull(connector)
    link = (
        CrmOrderLink.objects.filter(connector=connector, crm_id=str(crm_id)).select_related("order").first()
    )
    assert link is None, f"taken with COD {link.order.cod_amount} for an order of 30000"


# -- 12. was: a revoked key fails every waiting status one by one instead of stopping like an outage ------------------


def test_a_revoked_key_stops_the_status_sweep_and_no_status_is_failed_for_it(user_a, product_a):
    """Rule: a status is never lost without anyone noticing. The shop rotates its RetailCRM key and gives the new
    one an hour later: the statuses of that hour must wait, not be failed one by one (a call each, every sweep)."""
    with RetailCrmDouble(api_key=KEY) as shop:
        for n in range(3):
            shop_order(shop, phone=f"+7 701 555 {n:02d} 34")
        connector = retail_connector(user_a, shop)
        pull(connector)
        shop.api_key = "rcrm-rotated-key-9876543210"
        now = timezone.now()
        edits_before = len(shop.calls("POST"))
        crm_sync.push_due(now=now)
        calls_in_first_sweep = len(shop.calls("POST")) - edits_before
        for minutes in (2, 6, 14, 30, 62):
            crm_sync.push_due(now=now + timedelta(minutes=minutes))
        states = sorted(CrmStatusPush.objects.values_list("state", flat=True))

    assert (calls_in_first_sweep, states) == (1, ["pending"] * 3), (
        f"{calls_in_first_sweep} calls in one sweep to a CRM that said the key is wrong; after an hour the statuses "
        f"are {states}"
    )


# -- 13. was: the order card says «refused» for an old status although a newer one was sent since ---------------------


def test_the_order_card_never_shows_an_old_refusal_once_a_newer_status_was_sent(user_a, client_a, product_a):
    from django.urls import reverse

    with RetailCrmDouble(api_key=KEY) as shop:
        crm_id = shop_order(shop)["id"]
        connector = retail_connector(user_a, shop)
        pull(connector)
        link = CrmOrderLink.objects.get(connector=connector)
        CrmStatusPush.objects.filter(link=link).update(state="failed", last_error="HTTP 400 old refusal")
        order_cancel(order=link.order, actor=user_a, source="cabinet")
        crm_sync.push_due()
        assert shop.statuses_set(crm_id) == ["cancel-other"]
        card = client_a.get(reverse("orders:detail", args=[link.order.pk])).content.decode()

    assert "old refusal" not in card, "the card shows a refusal of a status the CRM no longer needs"


def test_run_now_on_a_paused_connector_takes_orders_whose_first_status_is_then_never_sent(user_a, product_a):
    """Rule: an order taken from a CRM leaves its waiting status (its first status goes back), or someone is told.
    «Run now» works on a paused connector; `_queue` queues nothing for a paused one, so these orders' «To send»
    never reaches the CRM, even after the connector is switched on again."""
    with RetailCrmDouble(api_key=KEY) as shop:
        crm_id = shop_order(shop)["id"]
        connector = retail_connector(user_a, shop, is_active=False)
        run = pull(connector)  # what «Run now» queues
        assert run.created == 1
        resave(user_a, connector, is_active=True)
        crm_sync.push_due()

        assert shop.statuses_set(crm_id) == ["delivering"], "the CRM never learns the order was taken"


def test_saving_the_form_never_puts_back_crm_lists_a_check_read_meanwhile(user_a, product_a):
    """A check writes `reference` with update(); `crm_connector_save` saves the whole row it loaded (the view loads
    it at the request's start; the save waits for DNS in production): the lists read meanwhile are lost."""
    with RetailCrmDouble(api_key=KEY) as shop:
        connector = retail_connector(user_a, shop)
        loaded = PullConnector.objects.get(pk=connector.pk)  # the form's request loads the connector
        check = ConnectorRun.objects.get(connector=connector, direction="check")
        connectors.run_queued(run_id=check.pk)  # the worker's check finishes meanwhile
        crm_connector_save(
            actor=user_a,
            partner=user_a.partner,
            connector=loaded,
            kind="retailcrm",
            name="Новое имя",
            url=None,
            secret="",
            settings=loaded.settings,
            status_map=loaded.status_map,
        )
        connector.refresh_from_db()

    assert connector.reference.get("statuses"), "the CRM's lists read by the check were overwritten with {}"
