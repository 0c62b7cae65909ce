"""Realistic data at volume (`manage.py generate_volume --orders 1000000`), for benchmarks and capacity tests.

50 partners over KZ and KG, ~100 products each, the orders of 26 weeks in every city of their country with a
realistic mix of delivery kinds and statuses (older orders closed: mostly paid, some refused, returned, not
reached or cancelled before work; the last two weeks in progress), their items, encrypted phones, status
history, call attempts (about three an order) and calling state, the stock ledger of every unit (receipts at
the main warehouse, transfers to the cities, reservations, couriers, deliveries, refusals, the post) with
balances that equal it, the collections of paid orders accrued to the partners' balances, and the weekly
charge runs of every closed week, approved.

Everything is written by set-based SQL inside PostgreSQL (`INSERT … SELECT` over `generate_series`, random
numbers seeded for repeatable data); only the phone pool is encrypted in Python. Running it again adds another
batch of orders to the same partners (a new batch tag in the order ids), so a test can grow the data.
The weekly runs go through the real `billing.runs` services, so what they post is what production posts.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing import ledger, runs
from billing.ledger import check_ledger
from billing.models import Account, BillingRun, Entry, Posting
from callcenter.models import CallAttempt, CallState
from catalogue.models import Product
from delivery.models import Collection
from geography.models import City, Warehouse
from ketlogistic.core import crypto
from ketlogistic.core.bulk import copy_rows
from ketlogistic.core.models import Partner, StaffScope, User
from ketlogistic.core.phones import mask_phone
from ketlogistic.core.roles import Role
from ketlogistic.core.sql import Table
from orders.models import Order, OrderHistory, OrderItem, OrderPhone, PartnerRules
from warehouses.ledger import check_ledger as check_stock_ledger
from warehouses.models import Receipt, ReceiptLine, StockBalance, StockMove, Transfer, TransferLine

PARTNER_PREFIX = "Объём"
# the temporary tables of one batch (dropped at commit, or at the start of the next batch in one transaction)
SCRATCH = [
    "vol_city", "vol_product", "vol_order", "vol_item", "vol_times", "vol_phone", "vol_move", "vol_supply",
    "vol_receipt", "vol_transfer", "vol_accrual",
]  # fmt: skip
PHONE_POOL = 20_000
PRODUCT_NAMES = [
    "Чайник", "Массажёр", "Смарт-часы", "Сковорода", "Ночник", "Крем", "Фен", "Блендер", "Наушники", "Рюкзак",
]  # fmt: skip
NAMES = [
    "Айдана Серикова", "Бекзат Нуржанов", "Гульмира Абенова", "Данияр Касымов", "Елена Петрова",
    "Жандос Оразов", "Камила Исаева", "Максат Турсунов", "Нургуль Жакупова", "Олжас Бекетов",
    "Сауле Мухамеджанова", "Тимур Ахмедов", "Улан Садыков", "Айгуль Токтогулова", "Эмиль Абдыкадыров",
]  # fmt: skip


@dataclass
class Report:
    steps: list[tuple[str, float, int]] = field(default_factory=list)

    def step(self, name: str, started: float, rows: int = 0, out=None) -> None:
        seconds = time.perf_counter() - started
        self.steps.append((name, seconds, rows))
        if out is not None:
            out.write(f"  {name:<34} {rows:>10} rows {seconds:8.1f} s")


def _execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def _partners(count: int, password_hash: str) -> list[int]:
    """The volume partners (about 70 % in KZ), each with rules and an administrator login; created once."""
    ids = []
    for index in range(1, count + 1):
        country = "KG" if index % 10 in (3, 7, 0) else "KZ"
        partner, created = Partner.objects.get_or_create(
            name=f"{PARTNER_PREFIX}-{index:02d}",
            defaults={
                "legal_form": "ТОО" if country == "KZ" else "ОсОО",
                "legal_name": f"«{PARTNER_PREFIX} {index:02d}»",
                "country": country,
                "currency": "KZT" if country == "KZ" else "KGS",
                "contact_phone": "+7 727 300 00 00" if country == "KZ" else "+996 312 30 00 00",
            },
        )
        if created:
            PartnerRules.objects.create(
                partner=partner,
                refusal_fee_enabled=index % 4 == 0,
                refusal_fee=1500 if index % 4 == 0 else 0,
                may_open_before_payment=index % 2 == 0,
            )
            User.objects.create(
                username=f"volume_{index:02d}",
                password=password_hash,
                role=Role.PARTNER_ADMIN,
                partner=partner,
                home_country=country,
                first_name="Партнёр",
                last_name=f"{index:02d}",
            )
        ids.append(partner.pk)
    return ids


def _staff(password_hash: str) -> None:
    """Twenty logists serving both countries (the benchmark's call center)."""
    for index in range(1, 21):
        user, created = User.objects.get_or_create(
            username=f"volume_logist_{index:02d}",
            defaults={
                "password": password_hash,
                "role": Role.LOGIST,
                "first_name": "Логист",
                "last_name": str(index),
            },
        )
        if created:
            StaffScope.objects.bulk_create(
                [StaffScope(user=user, country=country) for country in ("KZ", "KG")]
            )


# The tables the generator writes, from their models: a renamed table or a moved model shows here, at import.
TABLES = {
    model.__name__: Table(model)
    for model in (
        Partner, Order, OrderItem, OrderPhone, OrderHistory, Product, City, Warehouse, StockMove, StockBalance,
        Transfer, TransferLine, Receipt, ReceiptLine, CallState, CallAttempt, Collection, Posting, Entry, Account,
    )
}  # fmt: skip


ITEMS_FROM_SCRATCH = """
INSERT INTO {OrderItem} (order_id, partner_id, product_id, quantity, unit_price)
SELECT order_id, partner_id, product_id, quantity, price FROM vol_item
""".format(**TABLES)

PRODUCTS = """
INSERT INTO {Product} (partner_id, sku, name, price, weight_grams, size, is_active, created_at, updated_at)
SELECT p.id, 'V' || p.id || '-' || lpad(n::text, 3, '0'),
       (%(names)s::text[])[1 + n %% 10] || ' модель ' || n,
       CASE p.currency WHEN 'KZT' THEN 3000 + (n * 733) %% 27000 ELSE 300 + (n * 97) %% 4500 END,
       100 + (n * 37) %% 2000, '', true, now(), now()
FROM {Partner} p CROSS JOIN generate_series(1, %(per_partner)s) n
WHERE p.id = ANY(%(partners)s)
ON CONFLICT DO NOTHING
""".format(**TABLES)

# The cities an order may go to, per country, with the warehouse that serves them (a field-trip settlement is
# served from its express city; Astana by the main warehouse) and a weight (big cities get more orders).
CITIES = """
CREATE TEMP TABLE vol_city ON COMMIT DROP AS
SELECT c.country, c.id AS city_id, w.id AS warehouse_id, c.delivery_mode = 'field' AS is_field,
       row_number() OVER (PARTITION BY c.country ORDER BY (c.delivery_mode = 'field'), c.id) - 1 AS idx,
       count(*) OVER (PARTITION BY c.country) AS cities
FROM {City} c
JOIN {Warehouse} w ON w.city_id = coalesce(c.served_from_id, c.id)
""".format(**TABLES)

ORDERS = """
CREATE TEMP TABLE vol_order ON COMMIT DROP AS
WITH partner AS (
    SELECT p.id, p.country, p.currency, row_number() OVER (ORDER BY p.id) - 1 AS idx,
           (SELECT count(*) FROM vol_city c WHERE c.country = p.country) AS cities
    FROM {Partner} p WHERE p.id = ANY(%(partners)s)
), base AS (
    SELECT n, floor(%(partner_count)s * power(random(), 1.6))::int AS pidx,
           %(now)s::timestamptz - random() * interval '1 day' * %(days)s AS created_at,
           random() AS r_city, random() AS r_kind, random() AS r_status, random() AS r_name
    FROM generate_series(1, %(orders)s) n
), placed AS (
    SELECT b.*, p.id AS partner_id, p.country, p.currency, c.city_id, c.warehouse_id, c.is_field
    FROM base b
    JOIN partner p ON p.idx = b.pidx
    JOIN vol_city c ON c.country = p.country AND c.idx = floor(p.cities * power(b.r_city, 2.2))::int
), kinded AS (
    SELECT *,
           CASE WHEN country = 'KZ' AND r_kind < 0.12 THEN 'post'
                WHEN is_field THEN 'field'
                WHEN r_kind > 0.95 THEN 'same_day'
                ELSE 'express' END AS delivery_kind,
           extract(epoch FROM %(now)s::timestamptz - created_at) / 86400 AS age
    FROM placed
)
SELECT nextval(pg_get_serial_sequence('{Order}', 'id')) AS id, n, partner_id, country, currency, city_id,
       CASE WHEN delivery_kind = 'post' THEN %(main)s ELSE warehouse_id END AS warehouse_id,
       delivery_kind, created_at,
       CASE
         WHEN age > 14 THEN CASE
           WHEN r_status < 0.03 THEN 'cancelled'
           WHEN r_status < 0.62 THEN 'paid'
           WHEN r_status < 0.84 THEN CASE WHEN delivery_kind = 'post' THEN 'returned' ELSE 'refused' END
           ELSE 'not_reached' END
         ELSE CASE
           WHEN r_status < 0.05 THEN 'to_send'
           WHEN r_status < 0.08 THEN 'awaiting_stock'
           WHEN r_status < 0.30 THEN 'calling'
           WHEN r_status < 0.42 THEN 'delivery_agreed'
           WHEN r_status < 0.50 THEN CASE WHEN delivery_kind = 'post' THEN 'post_shipped' ELSE 'in_registry' END
           WHEN r_status < 0.58 THEN CASE WHEN delivery_kind = 'post' THEN 'post_shipped' ELSE 'with_courier' END
           WHEN r_status < 0.85 THEN 'paid'
           ELSE CASE WHEN delivery_kind = 'post' THEN 'returned' ELSE 'refused' END END
       END AS status,
       (%(names)s::text[])[1 + floor(r_name * %(name_count)s)::int] AS customer_name
FROM kinded
""".format(**TABLES)

PRODUCT_INDEX = """
CREATE TEMP TABLE vol_product ON COMMIT DROP AS
SELECT id, partner_id, price, row_number() OVER (PARTITION BY partner_id ORDER BY id) - 1 AS idx,
       count(*) OVER (PARTITION BY partner_id) AS products
FROM {Product} WHERE partner_id = ANY(%(partners)s) AND sku LIKE 'V%%'
""".format(**TABLES)

ITEMS = """
CREATE TEMP TABLE vol_item ON COMMIT DROP AS
WITH line AS (
    SELECT o.id AS order_id, o.partner_id, random() AS r_product, 1 + floor(random() * 2)::int AS quantity
    FROM vol_order o
    CROSS JOIN LATERAL generate_series(1, CASE WHEN random() + 0 * o.id < 0.3 THEN 2 ELSE 1 END) k  -- per order
), counted AS (
    SELECT partner_id, max(products) AS products FROM vol_product GROUP BY partner_id
)
SELECT l.order_id, l.partner_id, pr.id AS product_id, l.quantity, pr.price
FROM line l JOIN counted c ON c.partner_id = l.partner_id
JOIN vol_product pr ON pr.partner_id = l.partner_id AND pr.idx = floor(l.r_product * c.products)::int
"""

INSERT_ORDERS = """
INSERT INTO {Order} (id, partner_id, external_id, is_test, customer_name, country, city_id, address, distance_km,
    delivery_kind, cod_amount, original_cod, original_goods_value, currency, comment, status, status_changed_at,
    source, created_at, updated_at, work_available_from, sent_at, work_started_at, delivery_date, closed_at)
SELECT o.id, o.partner_id, %(tag)s || '-' || o.n, false, o.customer_name, o.country, o.city_id,
       'ул. Абая, ' || (1 + o.n %% 200) || ', кв. ' || (1 + o.n %% 90), (o.n %% 30)::numeric,
       o.delivery_kind, coalesce(i.total, 0), coalesce(i.total, 0), coalesce(i.total, 0), o.currency, '', o.status,
       coalesce(t.closed_at, t.started_at, t.sent_at, o.created_at), 'api', o.created_at, now(), o.created_at,
       t.sent_at, t.started_at, t.delivery_date, t.closed_at
FROM vol_order o
JOIN vol_times t ON t.id = o.id
LEFT JOIN (SELECT order_id, sum(quantity * price) AS total FROM vol_item GROUP BY order_id) i ON i.order_id = o.id
""".format(**TABLES)

TIMES = """
CREATE TEMP TABLE vol_times ON COMMIT DROP AS
SELECT id,
       CASE WHEN status NOT IN ('to_send', 'cancelled') THEN created_at + interval '1 hour' END AS sent_at,
       CASE WHEN status NOT IN ('to_send', 'cancelled', 'awaiting_stock') THEN created_at + interval '3 hours'
            END AS started_at,
       CASE WHEN status NOT IN ('to_send', 'cancelled', 'awaiting_stock', 'calling', 'not_reached')
            THEN (created_at + interval '2 days')::date END AS delivery_date,
       CASE WHEN status IN ('paid', 'refused', 'returned', 'not_reached')
                 THEN least(created_at + interval '2 days 6 hours', %(now)s::timestamptz)
            WHEN status = 'cancelled' THEN created_at + interval '30 minutes' END AS closed_at
FROM vol_order
"""

HISTORY = """
INSERT INTO {OrderHistory} (order_id, partner_id, at, actor_label, action, from_status, to_status, reason,
                                 source, details)
SELECT o.id, o.partner_id, h.at, h.actor, h.action, h.from_status, h.to_status, '', h.source, '{{}}'::jsonb
FROM vol_order o JOIN vol_times t ON t.id = o.id
CROSS JOIN LATERAL (VALUES
    (o.created_at, 'API', 'create', '', 'to_send', 'api', true),
    (t.sent_at, 'Руководитель отдела', 'send', 'to_send', 'sent', 'staff', t.sent_at IS NOT NULL),
    (t.closed_at - interval '5 hours', 'Курьер', 'hand_to_courier', 'in_registry', 'with_courier', 'staff',
     o.delivery_kind <> 'post' AND (o.status = 'paid' OR o.status = 'refused')),
    (coalesce(t.closed_at, t.started_at), 'Логист', 'move', 'calling', o.status, 'staff',
     o.status NOT IN ('to_send', 'sent', 'awaiting_stock'))
) AS h(at, actor, action, from_status, to_status, source, happened)
WHERE h.happened
""".format(**TABLES)

PHONES = """
INSERT INTO {OrderPhone} (order_id, partner_id, position, ciphertext, blind_index, masked, last_digits)
SELECT o.id, o.partner_id, 0, ph.ciphertext, ph.blind_index, ph.masked, ph.last_digits
FROM vol_order o JOIN vol_phone ph ON ph.country = o.country AND ph.idx = o.n %% %(pool)s
""".format(**TABLES)

CALLS = """
INSERT INTO {CallAttempt} (order_id, partner_id, operator_id, kind, started_at, outcome, outcome_at,
    agreed_date, next_call_at, note, line_state, telephony_call_id, duration_seconds, recording, is_first)
SELECT o.id, o.partner_id, (%(logists)s::bigint[])[1 + (o.id + s.k) %% cardinality(%(logists)s::bigint[])],
       'logist', s.at,
       CASE WHEN s.k = c.calls AND o.status NOT IN ('calling', 'not_reached') THEN 'agreed' ELSE 'no_answer' END,
       s.at + interval '2 minutes',
       CASE WHEN s.k = c.calls AND o.status NOT IN ('calling', 'not_reached') THEN t.delivery_date END,
       NULL, '', 'completed', %(tag)s || '-' || o.id || '-' || s.k, 20 + (o.id + s.k) %% 200, '', s.k = 1
FROM vol_order o JOIN vol_times t ON t.id = o.id
CROSS JOIN LATERAL (SELECT 1 + (o.id %% 5) AS calls) c
CROSS JOIN LATERAL (SELECT k, t.started_at + (k - 1) * interval '4 hours' AS at FROM generate_series(1, c.calls) k) s
WHERE t.started_at IS NOT NULL
""".format(**TABLES)

CALL_STATES = """
INSERT INTO {CallState} (order_id, partner_id, next_call_at, is_callback, day, calls_that_day, attempts,
                                  last_outcome, last_attempt_at, first_attempt_at,
                                  is_calling, is_same_day, order_created_at, country)  -- the trigger's copy (bulk mode skips it)
SELECT o.id, o.partner_id,
       CASE WHEN o.status = 'calling' THEN %(now)s::timestamptz + ((o.id %% 48) - 24) * interval '1 hour'
            ELSE t.started_at + (o.id %% 5) * interval '4 hours' END,
       false, NULL, 0, 1 + (o.id %% 5),
       CASE WHEN o.status IN ('calling', 'not_reached') THEN 'no_answer' ELSE 'agreed' END,
       t.started_at + (o.id %% 5) * interval '4 hours', t.started_at,
       o.status = 'calling', o.delivery_kind = 'same_day', o.created_at, o.country
FROM vol_order o JOIN vol_times t ON t.id = o.id
WHERE t.started_at IS NOT NULL  -- every order that was called keeps its state, as in real work
""".format(**TABLES)

COLLECTIONS = """
INSERT INTO {Collection} (order_id, partner_id, kind, channel, amount, currency, collected_at, city_id)
SELECT o.id, o.partner_id, 'cod', CASE WHEN o.delivery_kind = 'post' THEN 'post' ELSE 'courier' END,
       i.total, o.currency, t.closed_at, o.city_id
FROM vol_order o JOIN vol_times t ON t.id = o.id
JOIN (SELECT order_id, sum(quantity * price) AS total FROM vol_item GROUP BY order_id) i ON i.order_id = o.id
WHERE o.status = 'paid' AND i.total > 0
""".format(**TABLES)

# -- the stock ledger ------------------------------------------------------------------------------------------------
# Each item's units take the path of its order; the supply that fed them (a receipt at the main warehouse, one
# transfer per partner and city of this batch) carries exactly what the orders use plus a remainder on the shelf.

ITEM_MOVES = """
CREATE TEMP TABLE vol_move ON COMMIT DROP AS
SELECT i.partner_id, i.product_id, i.quantity, o.id AS order_id, o.warehouse_id, o.status, o.delivery_kind,
       t.sent_at, t.closed_at
FROM vol_item i JOIN vol_order o ON o.id = i.order_id JOIN vol_times t ON t.id = o.id
WHERE o.status NOT IN ('to_send', 'cancelled', 'awaiting_stock')
"""

SUPPLY = """
CREATE TEMP TABLE vol_supply ON COMMIT DROP AS
SELECT partner_id, product_id, warehouse_id, sum(quantity) + 5 AS quantity
FROM vol_move GROUP BY partner_id, product_id, warehouse_id
"""

RECEIPTS = """
WITH made AS (
    INSERT INTO {Receipt} (partner_id, warehouse_id, status, expected_on, is_pickup, pickup_from, note,
                                    created_at, received_at)
    SELECT DISTINCT partner_id, %(main)s, 'received', %(start)s::date, false, '', %(tag)s, %(start)s, %(start)s
    FROM vol_supply
    RETURNING id, partner_id
)
INSERT INTO vol_receipt SELECT id, partner_id FROM made
""".format(**TABLES)

TRANSFERS = """
WITH made AS (
    INSERT INTO {Transfer} (partner_id, kind, origin_id, destination_id, status, planned_ship_date,
        expected_arrival, is_auto, created_at, shipped_at, received_at, receipt_photo, receipt_note)
    SELECT DISTINCT partner_id, 'supply', %(main)s, warehouse_id, 'received', %(start)s::date,
           %(start)s::date + 2, false, %(start)s, %(start)s, %(start)s + interval '2 days', '', %(tag)s
    FROM vol_supply WHERE warehouse_id <> %(main)s
    RETURNING id, partner_id, destination_id
)
INSERT INTO vol_transfer SELECT id, partner_id, destination_id FROM made
""".format(**TABLES)

SUPPLY_LINES = """
INSERT INTO {ReceiptLine} (receipt_id, partner_id, product_id, expected_quantity, counted_quantity,
                                    discrepancy_reason)
SELECT r.id, s.partner_id, s.product_id, sum(s.quantity), sum(s.quantity), ''
FROM vol_supply s JOIN vol_receipt r ON r.partner_id = s.partner_id
GROUP BY r.id, s.partner_id, s.product_id;

INSERT INTO {TransferLine} (transfer_id, partner_id, product_id, suggested_quantity, quantity,
                                     shipped_quantity, received_quantity, discrepancy_reason)
SELECT t.id, s.partner_id, s.product_id, s.quantity, s.quantity, s.quantity, s.quantity, ''
FROM vol_supply s JOIN vol_transfer t ON t.partner_id = s.partner_id AND t.destination_id = s.warehouse_id;
""".format(**TABLES)

STOCK_MOVES = """
INSERT INTO {StockMove} (partner_id, product_id, quantity, kind, from_place, from_slot, from_warehouse_id,
    to_place, to_slot, to_warehouse_id, order_id, transfer_id, receipt_id, actor_label, note, at)
-- receipts at the main warehouse
SELECT s.partner_id, s.product_id, sum(s.quantity), 'receipt', 'partner', '', NULL::bigint, 'stock', 'stock:w' || %(main)s,
       %(main)s, NULL::bigint, NULL::bigint, r.id, 'Склад', '', %(start)s::timestamptz
FROM vol_supply s JOIN vol_receipt r ON r.partner_id = s.partner_id
GROUP BY s.partner_id, s.product_id, r.id
UNION ALL  -- shipped to the cities
SELECT s.partner_id, s.product_id, s.quantity, 'ship', 'stock', 'stock:w' || %(main)s, %(main)s,
       'transit', 'transit:w' || t.destination_id || ':t' || t.id, t.destination_id, NULL::bigint, t.id, NULL::bigint, 'Склад', '',
       %(start)s::timestamptz + interval '1 hour'
FROM vol_supply s JOIN vol_transfer t ON t.partner_id = s.partner_id AND t.destination_id = s.warehouse_id
UNION ALL  -- received there
SELECT s.partner_id, s.product_id, s.quantity, 'receive', 'transit', 'transit:w' || t.destination_id || ':t' || t.id,
       t.destination_id, 'stock', 'stock:w' || t.destination_id, t.destination_id, NULL::bigint, t.id, NULL::bigint, 'Склад', '',
       %(start)s::timestamptz + interval '2 days'
FROM vol_supply s JOIN vol_transfer t ON t.partner_id = s.partner_id AND t.destination_id = s.warehouse_id
UNION ALL  -- every order's units reserved
SELECT m.partner_id, m.product_id, m.quantity, 'reserve', 'stock', 'stock:w' || m.warehouse_id, m.warehouse_id,
       'reserved', 'reserved:w' || m.warehouse_id || ':o' || m.order_id, m.warehouse_id, m.order_id, NULL::bigint, NULL::bigint,
       'Система', '', m.sent_at
FROM vol_move m
UNION ALL  -- released when the customer was never reached
SELECT m.partner_id, m.product_id, m.quantity, 'release', 'reserved', 'reserved:w' || m.warehouse_id || ':o' || m.order_id,
       m.warehouse_id, 'stock', 'stock:w' || m.warehouse_id, m.warehouse_id, m.order_id, NULL::bigint, NULL::bigint, 'Система', '',
       m.closed_at
FROM vol_move m WHERE m.status = 'not_reached'
UNION ALL  -- to the courier, or to the post
SELECT m.partner_id, m.product_id, m.quantity, CASE WHEN m.delivery_kind = 'post' THEN 'to_post' ELSE 'to_courier' END,
       'reserved', 'reserved:w' || m.warehouse_id || ':o' || m.order_id, m.warehouse_id,
       CASE WHEN m.delivery_kind = 'post' THEN 'post' ELSE 'courier' END,
       CASE WHEN m.delivery_kind = 'post' THEN 'post' ELSE 'courier' END || ':w' || m.warehouse_id || ':o' || m.order_id,
       m.warehouse_id, m.order_id, NULL::bigint, NULL::bigint, 'Курьер', '',
       coalesce(m.closed_at - interval '5 hours', m.sent_at + interval '1 day')
FROM vol_move m WHERE m.status IN ('with_courier', 'post_shipped', 'paid', 'refused', 'returned')
UNION ALL  -- delivered, or back on the shelf after a refusal or a post return
SELECT m.partner_id, m.product_id, m.quantity,
       CASE WHEN m.status = 'paid' THEN 'deliver' WHEN m.status = 'returned' THEN 'post_return' ELSE 'refusal' END,
       CASE WHEN m.delivery_kind = 'post' THEN 'post' ELSE 'courier' END,
       CASE WHEN m.delivery_kind = 'post' THEN 'post' ELSE 'courier' END || ':w' || m.warehouse_id || ':o' || m.order_id,
       m.warehouse_id, CASE WHEN m.status = 'paid' THEN 'delivered' ELSE 'stock' END,
       CASE WHEN m.status = 'paid' THEN '' ELSE 'stock:w' || m.warehouse_id END,
       CASE WHEN m.status = 'paid' THEN NULL ELSE m.warehouse_id END, m.order_id, NULL::bigint, NULL::bigint, 'Курьер', '',
       m.closed_at
FROM vol_move m WHERE m.status IN ('paid', 'refused', 'returned')
""".format(**TABLES)

# Balances: what came into each slot minus what left it, over this batch's moves only (added to what was there).
BALANCES = """
INSERT INTO {StockBalance} (partner_id, product_id, place, slot, warehouse_id, order_id, transfer_id,
                                     quantity, updated_at)
SELECT partner_id, product_id, place, slot, warehouse_id, order_id, transfer_id, sum(delta), now()
FROM (
    SELECT partner_id, product_id, to_place AS place, to_slot AS slot, to_warehouse_id AS warehouse_id,
           CASE WHEN to_place IN ('reserved', 'courier', 'post') THEN order_id END AS order_id,
           CASE WHEN to_place = 'transit' THEN transfer_id END AS transfer_id, quantity AS delta
    FROM {StockMove} WHERE id > %(after)s AND to_slot <> ''
    UNION ALL
    SELECT partner_id, product_id, from_place, from_slot, from_warehouse_id,
           CASE WHEN from_place IN ('reserved', 'courier', 'post') THEN order_id END,
           CASE WHEN from_place = 'transit' THEN transfer_id END, -quantity
    FROM {StockMove} WHERE id > %(after)s AND from_slot <> ''
) d
GROUP BY partner_id, product_id, place, slot, warehouse_id, order_id, transfer_id
ON CONFLICT (product_id, slot) DO UPDATE SET quantity = {StockBalance}.quantity + EXCLUDED.quantity
""".format(**TABLES)

# -- billing: the cash of paid orders accrued, one sealed posting per collection, as `billing.accruals` posts it --

ACCRUALS = """
CREATE TEMP TABLE vol_accrual ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('{Posting}', 'id')) AS posting_id, c.*
FROM {Collection} c
WHERE NOT EXISTS (SELECT 1 FROM {Posting} p WHERE p.collection_id = c.id);

INSERT INTO {Posting} (id, kind, partner_id, currency, posted_at, description, collection_id, order_id, digest)
SELECT posting_id, 'accrual', partner_id, currency, collected_at + interval '4 hours',
       'Выкуп по заказу №' || order_id, id, order_id, ''
FROM vol_accrual;

INSERT INTO {Entry} (posting_id, account_id, amount, currency, partner_id, kind, order_id, city_id, at)
SELECT a.posting_id, acc.id, CASE WHEN acc.kind = 'collected' THEN a.amount ELSE -a.amount END, a.currency,
       a.partner_id, a.kind, a.order_id, a.city_id, a.collected_at + interval '4 hours'
FROM vol_accrual a
JOIN {Account} acc ON acc.currency = a.currency AND acc.revenue_kind = ''
     AND ((acc.kind = 'collected' AND acc.partner_id IS NULL) OR (acc.kind = 'partner' AND acc.partner_id = a.partner_id));

UPDATE {Posting} SET digest = {seal} WHERE id IN (SELECT posting_id FROM vol_accrual);
"""


def _phone_pool() -> list[tuple]:
    """Encrypted customer numbers (a customer orders more than once), as the intake stores them."""
    rng = random.Random(20261201)
    rows = []
    for country, number in (("KZ", "+7701{:07d}"), ("KG", "+996555{:06d}")):
        digits = 7 if country == "KZ" else 6
        for index in range(PHONE_POOL):
            phone = number.format(rng.randrange(10**digits))
            rows.append(
                (
                    country,
                    index,
                    crypto.encrypt(phone),
                    crypto.blind_index(phone),
                    mask_phone(phone),
                    phone[-4:],
                )
            )
    return rows


def generate(
    *,
    orders: int,
    partners: int = 50,
    weeks: int = 26,
    products: int = 100,
    seed: float = 0.42,
    end=None,
    runs: bool = True,
    out=None,
):
    """Add `orders` orders (and everything that goes with them) to the volume partners, created over the `weeks`
    before `end` (now by default). With `runs`, every closed week's charge run is computed and approved except
    the last one, left as the finance director finds it on Monday: a computed draft. Returns a Report."""
    report = Report()
    now = end or timezone.now()
    start = now - timedelta(days=7 * weeks + 7)
    tag = f"V{int(now.timestamp())}"
    started = time.perf_counter()
    password_hash = make_password("ketdemo-2026")
    with transaction.atomic():
        partner_ids = _partners(partners, password_hash)
        _staff(password_hash)
        _execute(PRODUCTS, {"names": PRODUCT_NAMES, "per_partner": products, "partners": partner_ids})
        logists = list(
            User.objects.filter(username__startswith="volume_logist_").values_list("pk", flat=True)
        )
        for partner_id, currency in Partner.objects.filter(pk__in=partner_ids).values_list("pk", "currency"):
            ledger.partner_account(partner_id, currency)
        for currency in ("KZT", "KGS"):
            ledger.account(Account.Kind.COLLECTED, currency)
    report.step("partners, products, logins", started, len(partner_ids), out)

    main = Warehouse.objects.get(kind=Warehouse.Kind.MAIN).pk
    params = {
        "orders": orders,
        "partners": partner_ids,
        "partner_count": len(partner_ids),
        "days": 7 * weeks,
        "now": now,
        "start": start,
        "tag": tag,
        "main": main,
        "names": NAMES,
        "name_count": len(NAMES),
        "per_partner": products,
        "pool": PHONE_POOL,
        "logists": logists,
    }
    with transaction.atomic(), _bulk_mode():
        _execute(
            f"DROP TABLE IF EXISTS {', '.join(SCRATCH)}"
        )  # left by an earlier batch in the same transaction
        _execute("SET LOCAL max_parallel_workers_per_gather = 0")  # one process: the seeded randoms repeat
        _execute("SELECT setseed(%(seed)s)", {"seed": seed})
        started = time.perf_counter()
        for sql, table in (
            (CITIES, "vol_city"),
            (PRODUCT_INDEX, "vol_product"),
            (ORDERS, "vol_order"),
            (ITEMS, "vol_item"),
            (TIMES, "vol_times"),
        ):
            _execute(sql, params)
            _execute(f"ANALYZE {table}")  # temporary tables have no statistics until asked
        report.step("orders planned", started, orders, out)
        started = time.perf_counter()
        count = _execute(INSERT_ORDERS, params)
        report.step("orders", started, count, out)
        started = time.perf_counter()
        # the items' guard (orders migration 0010) lets only the intake's door write them; in bulk mode (a
        # superuser) the triggers are off anyway
        _execute("SELECT set_config('ketlogistic.order_door', 'intake', true)")
        count = _execute(ITEMS_FROM_SCRATCH)
        _execute("SELECT set_config('ketlogistic.order_door', '', true)")
        report.step("order items", started, count, out)
        started = time.perf_counter()
        _execute(
            "CREATE TEMP TABLE vol_phone (country text, idx int, ciphertext text, blind_index text, masked text,"
            " last_digits text) ON COMMIT DROP"
        )
        copy_rows(
            "vol_phone",
            ["country", "idx", "ciphertext", "blind_index", "masked", "last_digits"],
            _phone_pool(),
        )
        count = _execute(PHONES, params)
        report.step("phones (encrypted)", started, count, out)
        for name, sql in (
            ("status history", HISTORY),
            ("call attempts", CALLS),
            ("calling state", CALL_STATES),
            ("collections", COLLECTIONS),
        ):
            started = time.perf_counter()
            report.step(name, started, _execute(sql, params), out)
        started = time.perf_counter()
        after = _last_id(StockMove)
        _execute(ITEM_MOVES)
        _execute("ANALYZE vol_move")
        _execute(SUPPLY)
        _execute("ANALYZE vol_supply")
        _execute("CREATE TEMP TABLE vol_receipt (id bigint, partner_id bigint) ON COMMIT DROP")
        _execute(
            "CREATE TEMP TABLE vol_transfer (id bigint, partner_id bigint, destination_id bigint) ON COMMIT DROP"
        )
        _execute(RECEIPTS, params)
        _execute(TRANSFERS, params)
        _execute("ANALYZE vol_receipt")
        _execute("ANALYZE vol_transfer")
        _execute(SUPPLY_LINES, params)
        count = _execute(STOCK_MOVES, params)
        report.step("stock moves", started, count, out)
        started = time.perf_counter()
        count = _execute(BALANCES, {"after": after})
        report.step("stock balances", started, count, out)
    started = time.perf_counter()
    with transaction.atomic(), _bulk_mode() as fast:
        # with the triggers off the seal is written here, by the same function the trigger uses
        _execute(ACCRUALS.format(seal="billing_posting_digest(id)" if fast else "'seal'", **TABLES))
        accrued = _execute("SELECT 1 FROM vol_accrual")
    report.step("accruals (ledger postings)", started, accrued, out)

    if runs:
        started = time.perf_counter()
        report.step("weekly runs (computed, approved)", started, _charge_runs(weeks), out)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return report


def _charge_runs(weeks: int) -> int:
    """Every closed week's run, in order; approved but for the last, which stays a computed draft."""
    last = runs.last_closed_week()
    day, charged = last - timedelta(days=7 * (weeks + 1)), 0
    while day <= last:
        run = runs.run_for_week(week_start=day)
        if run.status == BillingRun.Status.DRAFT:
            charged += runs.run_compute(run=run)
        if run.status != BillingRun.Status.APPROVED and day != last:
            runs.run_approve(run=run, actor=None, now=runs.week_bounds(day)[1] + timedelta(hours=6))
        day += timedelta(days=7)
    # the generated history of closed weeks counts as seen by their runs (as it would have been, day by day)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Collection._meta.db_table}")
        seen = cursor.fetchone()[0]
    BillingRun.objects.filter(week_start__lt=last).update(collections_seen=seen)
    return charged


@contextlib.contextmanager
def _bulk_mode():
    """Skip foreign-key and guard triggers for the bulk inserts inside (superusers only): the SQL above writes
    consistent rows by construction, and `verify` proves both ledgers afterwards. Yields whether it could."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
        fast = True
    except DatabaseError:
        fast = False
    try:
        yield fast
    finally:
        if fast:  # a SET LOCAL outlives the savepoint: end it here, not at the outer transaction's end
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def verify() -> list[str]:
    """Both ledgers consistent after generation: the stock balances equal the moves, every posting balances."""
    return check_stock_ledger() + check_ledger()


def _last_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {model._meta.db_table}")
        return cursor.fetchone()[0]
