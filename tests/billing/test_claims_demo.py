"""The demo data set shows claims in every state (issue 20, «Demo data shows claims in every state»), made by the
real services: the money of the resolved one posted, one waiting for the finance director, one overdue."""

from importlib import import_module

import pytest
from django.utils import translation

from billing import claims, claims_demo, ledger
from billing.models import Claim, Posting
from setup.demo import DEMO_STEPS

pytestmark = pytest.mark.django_db


def test_the_demo_has_claims_in_every_state(reference_data):
    context: dict = {}
    with translation.override("ru"):
        # what the claims stand on (the five weeks of billing history apart: slow, and not needed here)
        for step in DEMO_STEPS[: DEMO_STEPS.index("billing.claims_demo")]:
            if step != "billing.demo":
                context.update(import_module(step).seed(context=context) or {})
        claims_demo.seed(context=context)
        claims_demo.seed(context=context)  # again: nothing more

    assert set(Claim.objects.values_list("state", flat=True)) == set(Claim.State.values)
    assert Claim.objects.count() == 8
    resolved = Claim.objects.get(state="resolved")
    assert resolved.money == "approved" and resolved.files.count() == 1
    assert set(Posting.objects.filter(claim=resolved).values_list("kind", flat=True)) == {
        "claim_compensation",
        "claim_courier",
    }
    assert Claim.objects.filter(money="proposed").count() == 1
    assert Claim.objects.filter(claims.overdue_condition()).count() == 1
    assert Claim.objects.filter(channel="hotline", partner__country="KG").count() == 1
    assert ledger.check_ledger() == []
