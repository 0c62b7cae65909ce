"""The claims' pages: filing in the cabinet and from the order card (the hotline, for the customer), working a claim,
the finance director's approval, files served only to those who see the claim, and the overdue ones on the
supervisor's and the head of department's first screen."""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from billing import claims, ledger
from billing.models import Claim, ClaimFile, Posting
from ketlogistic.core.roles import Role
from tests.billing.test_claims import courier_had, png
from tests.core.test_home import assert_every_figure_is_its_list, home, values
from tests.factories import make_order

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def order_a(partner_a, product_a):
    return make_order(partner_a, product=product_a)


@pytest.fixture
def finance(make_user):
    return make_user(Role.FINANCE_DIRECTOR)


def test_a_partner_files_a_claim_with_a_photo_in_the_cabinet_and_only_it_reads_the_photo(
    client_a, client_b, order_a, head
):
    answer = client_a.post(
        reverse("billing:claim_new"),
        {
            "order": order_a.external_id,
            "kind": "damaged",
            "text": "Треснул корпус",
            "files": [png("трещина.png")],
        },
    )

    claim = Claim.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("billing:claim", args=[claim.pk])
    assert (claim.order, claim.channel, claim.owner) == (order_a, "cabinet", head)
    page = client_a.get(answer["Location"])
    photo = ClaimFile.objects.get()
    photo_url = reverse("billing:claim_file", args=[claim.pk, photo.pk])
    assert (
        page.status_code == 200
        and "Треснул корпус" in page.content.decode()
        and photo_url in page.content.decode()
    )
    served = client_a.get(photo_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.content.startswith(b"\x89PNG") and "sandbox" in served["Content-Security-Policy"]
    assert served["X-Content-Type-Options"] == "nosniff"
    # partner B: neither the claim, nor its photo, nor a place in its list
    assert client_b.get(answer["Location"]).status_code == 404
    assert client_b.get(photo_url).status_code == 404
    assert client_b.get(reverse("billing:claims")).context["page"].paginator.count == 0
    # the photo is never reachable as a stored file
    assert client_a.get("/media/" + photo.file.name).status_code == 404


def test_a_photo_of_another_claim_is_not_served_under_this_claims_address(client_a, user_a, order_a):
    first = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Раз", files=[png()])
    second = claims.claim_file(actor=user_a, order=order_a, kind="missing", text="Два")

    url = reverse("billing:claim_file", args=[second.pk, first.files.get().pk])

    assert client_a.get(url).status_code == 404


def test_the_hotline_files_a_claim_for_the_customer_from_the_order_card(order_a, make_user, login, partner_a):
    hotline = login(make_user(Role.HOTLINE))

    card = hotline.get(reverse("orders:detail", args=[order_a.pk])).content.decode()
    link = f"{reverse('billing:claim_new')}?order={order_a.pk}"
    assert 'data-testid="claims-panel"' in card and link in card
    form = hotline.get(link)
    assert form.context["order"] == order_a
    answer = hotline.post(
        link, {"order": str(order_a.pk), "kind": "wrong_sum", "text": "Курьер не дал сдачу"}
    )

    claim = Claim.objects.get()
    assert answer.status_code == 302
    assert (claim.channel, claim.partner) == ("hotline", partner_a)
    assert partner_a.notices.filter(key=f"claim-{claim.pk}").exists()


def test_a_claim_is_worked_on_its_page_and_approved_by_the_finance_director(
    user_a, client_a, order_a, head, finance, login, make_user, partner_a
):
    courier = make_user(Role.COURIER)
    courier_had(order_a, courier)
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбито")
    page = reverse("billing:claim", args=[claim.pk])
    as_head, as_finance = login(head), login(finance)

    assert as_head.post(page, {"action": "take"}).status_code == 302
    refused = as_head.post(
        page, {"action": "propose", "compensation": "1e3", "courier_charge": "", "resolution": "Компенсация"}
    )
    assert (
        refused.status_code == 200 and refused.context["proposal_form"].errors
    )  # shown again, nothing saved
    as_head.post(
        page,
        {
            "action": "propose",
            "compensation": "6 000",
            "courier_charge": "1500",
            "courier": str(courier.pk),
            "resolution": "Компенсируем стоимость чайника.",
        },
    )
    claim.refresh_from_db()
    assert (claim.money, claim.compensation, claim.courier_charge) == (
        "proposed",
        Decimal("6000"),
        Decimal("1500"),
    )
    # the partner does not read a proposal: only what was approved
    assert "6\u202f000.00" not in client_a.get(page).content.decode()

    approval = as_finance.get(page)
    assert approval.context["can_approve"]
    shown = {"action": "approve", "seen_compensation": "6000.00", "seen_courier_charge": "1500.00"}
    assert 'name="seen_compensation" value="6000.00"' in approval.content.decode()
    assert as_finance.post(page, shown).status_code == 302

    claim.refresh_from_db()
    assert (claim.state, claim.money) == ("resolved", "approved")
    assert Posting.objects.filter(claim=claim).count() == 2
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("6000.00")
    seen = client_a.get(page).content.decode()
    assert 'data-testid="claim-compensation"' in seen and "6\u202f000.00" in seen
    statement = client_a.get(reverse("billing:balance"))
    assert [entry.kind for entry in statement.context["page"]] == ["claim_compensation"]


def test_an_approval_posts_only_the_money_the_finance_director_was_shown(
    user_a, order_a, head, finance, login, partner_a
):
    """The owner proposed 8 900, the finance director opened the page, the owner proposed 9 900: the approval sent
    from the page that showed 8 900 is refused and posts nothing (found by a stranger's review)."""
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбито")
    claims.claim_take(actor=head, claim=claim)
    claims.claim_propose(actor=head, claim=claim, resolution="Компенсируем", compensation="8900")
    page = reverse("billing:claim", args=[claim.pk])
    as_finance = login(finance)
    opened = as_finance.get(page).content.decode()
    assert 'name="seen_compensation" value="8900.00"' in opened
    claims.claim_propose(actor=head, claim=claim, resolution="Компенсируем", compensation="9900")

    answer = as_finance.post(
        page, {"action": "approve", "seen_compensation": "8900.00", "seen_courier_charge": ""}, follow=True
    )

    claim.refresh_from_db()
    assert claim.money == "proposed"
    assert not Posting.objects.filter(claim=claim).exists()
    said = " ".join(str(message) for message in answer.context["messages"])
    assert "9900" in re.sub(r"\D", "", said)  # the error names the amount proposed now
    assert ledger.partner_balance(partner_a, "KZT") == Decimal("0")


@pytest.mark.parametrize(
    "data",
    [
        {"action": "bogus"},
        {"action": ""},
        {"action": "propose", "compensation": "-5", "resolution": "x"},
        {
            "action": "propose",
            "compensation": "100",
            "courier_charge": "50",
            "courier": "abc",
            "resolution": "x",
        },
        {"action": "assign", "owner": "999999999999999999999"},
        {"action": "post", "text": "\x00"},
        {"action": "reject", "resolution": ""},
        {"action": "decline", "note": "нет"},
        {"action": "approve"},
    ],
)
def test_odd_posts_to_a_claim_are_refused_without_a_500_and_change_nothing(
    user_a, order_a, head, login, data
):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбито")
    before = Claim.objects.filter(pk=claim.pk).values().get()

    answer = login(head).post(reverse("billing:claim", args=[claim.pk]), data)

    # shown again with the error, sent back with a message, refused as unstorable (400) or not the head's (403)
    assert answer.status_code in (200, 302, 400, 403)
    assert Claim.objects.filter(pk=claim.pk).values().get() == before


@pytest.mark.parametrize(
    "query",
    [
        "state=%00",
        "state=bogus&due=yesterday&money=x&page=-1&order=abc",
        "order=99999999999999999999999",
        "mine=1",
    ],
)
def test_odd_list_parameters_show_the_list(client_a, user_a, order_a, query):
    claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбито")

    answer = client_a.get(f"{reverse('billing:claims')}?{query}")

    assert answer.status_code in (200, 400)


def test_a_partner_files_only_on_an_order_it_sees(client_a, partner_b, make_user):
    foreign = make_order(partner_b)

    answer = client_a.post(
        reverse("billing:claim_new"), {"order": str(foreign.pk), "kind": "damaged", "text": "Чужой"}
    )

    assert answer.status_code == 200 and answer.context["form"].errors["order"]
    assert not Claim.objects.exists()


def test_overdue_claims_are_on_the_supervisors_and_the_head_of_departments_first_screen(
    user_a, order_a, head, make_user, login, partner_b, django_assert_max_num_queries
):
    with time_machine.travel(datetime(2026, 11, 2, 10, 0, tzinfo=ALMATY), tick=False):
        late = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Давно")
        claims.claim_take(actor=head, claim=late)
        other_partner = claims.claim_file(
            actor=make_user(Role.PARTNER_ADMIN, partner=partner_b),
            order=make_order(partner_b),
            kind="missing",
            text="Давно, партнёр Б",
        )
    with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=ALMATY), tick=False):
        claims.claim_file(actor=user_a, order=order_a, kind="missing", text="Сегодня")
        supervisor, head_client = login(make_user(Role.SUPERVISOR)), login(head)

        everyone = home(supervisor, django_assert_max_num_queries)
        mine = home(head_client, django_assert_max_num_queries)

        assert values(everyone["claims"]) == [2, 0, 2]  # overdue (both partners'), due today, new
        assert values(mine["claims"]) == [1, 0, 1]  # the head serves partner A only
        assert everyone["claims"].figures[0].tone == "bad"
        assert_every_figure_is_its_list(supervisor, {"claims": everyone["claims"]})
        assert_every_figure_is_its_list(head_client, {"claims": mine["claims"]})
    assert other_partner.state == "new"


def test_the_finance_director_sees_the_money_to_approve(
    user_a, order_a, head, finance, login, django_assert_max_num_queries
):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбито")
    claims.claim_propose(actor=head, claim=claim, resolution="Компенсация", compensation="100")
    client = login(finance)

    panels = home(client, django_assert_max_num_queries)

    assert values(panels["claims"]) == [1]
    assert_every_figure_is_its_list(client, {"claims": panels["claims"]})


def test_the_claims_lists_take_the_same_queries_for_more_claims(
    user_a, client_a, partner_a, product_a, make_user, login
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.api_keys import api_key_create
    from tests.integrations.conftest import ApiClient

    supervisor = login(make_user(Role.SUPERVISOR))
    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    readers = {
        "cabinet": lambda: client_a.get(reverse("billing:claims")),
        "staff": lambda: supervisor.get(reverse("billing:claims")),
        "api": lambda: api.get("/api/v1/claims/"),
    }

    def counts() -> dict:
        found = {}
        for name, read in readers.items():
            with CaptureQueriesContext(connection) as queries:
                assert read().status_code == 200
            found[name] = len(queries.captured_queries)
        return found

    claims.claim_file(
        actor=user_a, order=make_order(partner_a, product=product_a), kind="damaged", text="Раз"
    )
    counts()  # the first read also remembers the key's last use and fills the session's caches
    few = counts()
    for kind in ("missing", "wrong_sum", "money_not_received", "courier_behaviour", "other"):
        claims.claim_file(actor=user_a, order=make_order(partner_a, product=product_a), kind=kind, text="Ещё")

    assert counts() == few
