"""Phones at rest: encrypted, tamper-evident; searchable only through a keyed hash. Key rotation:
`tests/core/test_key_rotation.py`."""

import pytest
from django.db import connection

from ketlogistic.core import crypto
from orders.models import OrderPhone
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_encrypt_round_trip_and_ciphertext_hides_the_number():
    token = crypto.encrypt("+77011234567")

    assert "7011234567" not in token
    assert crypto.decrypt(token) == "+77011234567"


def test_a_tampered_ciphertext_is_rejected():
    token = crypto.encrypt("+77011234567")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered)


def test_blind_index_is_stable_keyed_and_not_the_number(settings):
    first = crypto.blind_index("+77011234567")

    assert first == crypto.blind_index("+77011234567")
    assert "7011234567" not in first
    settings.BLIND_INDEX_KEY = "another-key"
    assert crypto.blind_index("+77011234567") != first


def test_no_plaintext_phone_in_any_database_column(partner_a, product_a, partner_kg):
    make_order(partner_a, product=product_a, phones=["8 (701) 765-43-21", "+7 702 111 22 33"])
    make_order(partner_kg, phone="0555 987 654")
    assert OrderPhone.objects.count() == 3
    needles = ["7017654321", "7021112233", "555987654", "701 765", "765-43-21"]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s', [f"%{needle}%"]
                )
                if cursor.fetchone()[0]:
                    found.append((table, column, needle))

    assert found == []
