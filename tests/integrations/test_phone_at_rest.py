"""No channel leaves a customer's phone in clear anywhere in the database."""

import pytest
from django.db import connection

from integrations import excel
from integrations.connectors import connector_run
from integrations.services import connector_save
from tests.http_servers import Recorder
from tests.integrations.conftest import api_order
from tests.integrations.test_excel import _row, _xlsx

pytestmark = pytest.mark.django_db
NEEDLES = ["7017778899", "701 777 88 99", "777-88-99", "7027778800", "702 777 88 00"]


def test_api_excel_and_connectors_leave_no_plain_phone(api_a, partner_a, user_a):
    api_a.post(
        "/api/v1/orders/",
        api_order(external_id="P-API", phone="8 701 777 88 99"),
        HTTP_IDEMPOTENCY_KEY="pk-1",
    )
    api_a.post(
        "/api/v1/orders/",
        api_order(external_id="P-BAD", phone="+7 901 777 88 99"),
        HTTP_IDEMPOTENCY_KEY="pk-2",
    )
    excel.excel_upload(
        partner=partner_a,
        actor=user_a,
        filename="p.xlsx",
        content=_xlsx([_row("P-XLS", phone="+7 (702) 777-88-00"), _row("P-XLS2", phone="8 901 777 88 99")]),
    )
    answer = {
        "orders": [
            {
                "id": "P-CON",
                "customer_name": "К",
                "phone": "87027778800",
                "city": "Алматы",
                "address": "ул. 1",
                "items": [{"sku": "A-1", "quantity": 1}],
            },
            {
                "id": "P-CON2",
                "customer_name": "К",
                "phone": "89017778899",
                "city": "Алматы",
                "address": "ул. 1",
                "items": [{"sku": "A-1", "quantity": 1}],
            },
        ]
    }
    with Recorder(responses=[(200, answer, None)]) as system:
        connector = connector_save(
            actor=user_a,
            partner=partner_a,
            name="c",
            url=system.url,
            schedule="interval",
            records_path="orders",
            mapping={"external_id": "id"},
        )
        run = connector_run(connector=connector)
    assert run.created == 1 and run.failed == 1

    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('text', 'character varying', 'jsonb', 'bytea')"
        )
        for table, column, data_type in cursor.fetchall():
            expression = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            for needle in NEEDLES:
                cursor.execute(f'SELECT count(*) FROM "{table}" WHERE {expression} LIKE %s', [f"%{needle}%"])
                if cursor.fetchone()[0]:
                    found.append((table, column, needle))
    assert found == []
