"""The demo data set: each app's own demo step, ground floor first; every step is idempotent."""

from importlib import import_module

from .reference import load_reference_data, reference_data_missing

# Each app adds its demo data after the ones it stands on.
DEMO_STEPS = [
    "setup.people",
    "warehouses.demo",
    "setup.order_lives",
    "callcenter.demo",
    "delivery.demo",
    "billing.demo",
    "billing.claims_demo",
    "billing.service_demo",
    "integrations.demo",
]


def seed_demo(*, report=lambda line: None) -> dict:
    """Fill the database with the demo data set, loading the reference data first when it is missing."""
    if reference_data_missing():
        for line in load_reference_data().lines():
            report(line)
    context: dict = {}
    for step in DEMO_STEPS:
        result = import_module(step).seed(context=context)
        context.update(result or {})
        report(f"Demo data: {step} done")
    return context
