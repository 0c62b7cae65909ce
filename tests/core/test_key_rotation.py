"""`rotate_phone_keys`: every value encrypted with FIELD_ENCRYPTION_KEYS moves to the newest key, found by its declared
field type (`ketlogistic.core.fields`), never by a hand-kept list; `--reindex` recomputes the declared blind indexes."""

from io import StringIO

import pytest
from django.apps import apps
from django.core import checks
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection, models

from callcenter import services as calls
from callcenter.models import InboundCall
from integrations import excel, webhooks
from integrations.services import connector_save, crm_connector_save
from ketlogistic.core import crypto, export_jobs
from ketlogistic.core.fields import (
    EncryptedFileField,
    EncryptedTextField,
    encrypted_fields,
    encrypted_file_fields,
)
from orders import exports
from orders.models import OrderPhone
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db
OLD_KEY = "dGVzdC1rZXktb2xkZXItMDAwMDAwMDAwMDAwMDAwMDA="
NEW_KEY = "dGVzdC1rZXktbmV3ZXN0LTAwMDAwMDAwMDAwMDAwMDA="


def _declared(kind) -> set[tuple[str, str]]:
    """What a reader of the models sees: every field of that type on every installed model, by where it is declared."""
    return {
        (field.model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, kind)
    }


def _found(pairs) -> set[tuple[str, str]]:
    return {(model._meta.label, field.name) for model, field in pairs}


def _rotate(*args) -> str:
    out = StringIO()
    call_command("rotate_phone_keys", *args, stdout=out)
    return out.getvalue().strip()


def _store_one_of_everything(user, partner, product):
    """One value of each kind the application encrypts, made the way the application makes it."""
    order = make_order(partner, product=product)
    from billing import claims
    from tests.billing.test_claims import png

    claims.claim_file(
        actor=user, order=order, kind="damaged", text="Треснул", files=[png()]
    )  # a claim's photo
    endpoint, _secret = webhooks.endpoint_create(
        actor=user, url="https://shop.example.kz/h", events=["order.created"]
    )
    webhooks.endpoint_rotate_secret(actor=user, endpoint=endpoint)  # the replaced secret, kept for 24 h
    connector_save(
        actor=user,
        partner=partner,
        name="1С",
        url="https://shop.example.kz/orders",
        schedule="interval",
        mapping={"external_id": "id"},
        auth_header="Authorization: Bearer s3cret",
    )
    crm_connector_save(
        actor=user,
        partner=partner,
        kind="retailcrm",
        name="RetailCRM",
        url="https://shop.retailcrm.ru",
        secret="retailcrm-api-key",
        settings={},
        status_map={},
    )
    calls.inbound_log(actor=None, phone="+7 701 555 44 33", missed=True)
    ProductFactory(partner=partner, sku="ART-1", price=15000)
    ProductFactory(partner=partner, sku="ART-2", price=4900)
    upload = excel.excel_upload(
        partner=partner, actor=user, filename="o.xlsx", content=excel.template_workbook()
    )
    assert upload.file and upload.checked_orders
    job = exports.order_export_queue(actor=user, query="")  # a large export prepared by the worker
    assert export_jobs.export_job_run(job_id=job.pk, build=exports.order_export_build).file


def test_keys_rotate_old_rows_still_decrypt_then_reencrypt(settings, partner_a, product_a):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    order = make_order(partner_a, product=product_a)
    phone = OrderPhone.objects.get(order=order)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    assert crypto.decrypt(phone.ciphertext) == "+77011234567"
    assert not crypto.encrypted_with_newest_key(phone.ciphertext)

    _rotate()
    phone.refresh_from_db()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert crypto.decrypt(phone.ciphertext) == "+77011234567"


def test_rotation_in_small_batches_reaches_every_row(settings, partner_a, product_a):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    make_order(partner_a, product=product_a, phones=["+7 701 111 11 11", "+7 702 222 22 22"])
    make_order(partner_a, product=product_a, phone="+7 705 333 33 33")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    assert _rotate("--batch", "2").startswith("Phones re-encrypted: 3;")

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert all(crypto.decrypt(p.ciphertext) for p in OrderPhone.objects.all())
    assert _rotate() == (
        "Phones re-encrypted: 0; search index recomputed: 0; other values and files re-encrypted: 0"
    )


def test_reindex_after_a_new_blind_index_key(settings, partner_a, product_a):
    order = make_order(partner_a, product=product_a)
    settings.BLIND_INDEX_KEY = "rotated-blind-index-key"

    _rotate("--reindex")

    assert OrderPhone.objects.get(order=order).blind_index == crypto.blind_index("+77011234567")


def test_reindex_recomputes_a_missed_callers_index_too(settings, reference_data):
    """The missed call's number declares its blind index like the order's phone: a new BLIND_INDEX_KEY reaches it."""
    call = calls.inbound_log(actor=None, phone="+7 701 555 44 33", missed=True)
    settings.BLIND_INDEX_KEY = "rotated-blind-index-key"

    assert "search index recomputed: 1;" in _rotate("--reindex")

    assert InboundCall.objects.get(pk=call.pk).phone_index == crypto.blind_index("+77015554433")


def test_rotation_finds_every_encrypted_field_without_a_list(settings, user_a, partner_a, product_a):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    _store_one_of_everything(user_a, partner_a, product_a)
    columns, files = _declared(EncryptedTextField), _declared(EncryptedFileField)
    assert columns and files
    for label, name in columns | files:
        stored = apps.get_model(label)._base_manager.exclude(**{name: ""})
        assert stored.exists(), f"{label}.{name} is encrypted: store one in _store_one_of_everything"

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    output = _rotate()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key is gone

    for label, name in columns:
        for token in apps.get_model(label)._base_manager.exclude(**{name: ""}).values_list(name, flat=True):
            assert crypto.decrypt(token), f"{label}.{name}"
    for label, name in files:
        for row in apps.get_model(label)._base_manager.exclude(**{name: ""}):
            with getattr(row, name).open("rb") as handle:
                assert crypto.decrypt_bytes(handle.read()), f"{label}.{name}"
    # the customer's and the missed caller's phones; the webhook's secret and its replaced one, the connector's
    # header and the four files (the upload, its checked orders, the prepared export, a claim's photo)
    assert (
        output == "Phones re-encrypted: 2; search index recomputed: 0; other values and files re-encrypted: 8"
    )


@pytest.fixture
def declared_later(settings):
    """A model declared after the command was written: an encrypted column with its blind index, and an encrypted
    file. Its table lives only in this test's transaction."""

    class Later(models.Model):
        secret = EncryptedTextField(blank=True, blind_index_field="secret_index")
        secret_index = models.CharField(max_length=64, blank=True)
        attachment = EncryptedFileField(upload_to="rotation-test/", blank=True)

        class Meta:
            app_label = "core"
            db_table = "test_rotation_declared_later"

        def __str__(self) -> str:
            return str(self.pk)

    try:
        with connection.schema_editor() as editor:
            editor.create_model(Later)
        yield Later
    finally:
        del apps.all_models["core"]["later"]
        apps.clear_cache()


def test_a_newly_declared_encrypted_field_is_found(settings, declared_later):
    found_columns, found_files = _found(encrypted_fields()), _found(encrypted_file_fields())

    assert found_columns == _declared(EncryptedTextField)
    assert found_files == _declared(EncryptedFileField)
    assert found_columns >= {
        ("orders.OrderPhone", "ciphertext"),
        ("callcenter.InboundCall", "phone_ciphertext"),
        ("integrations.WebhookEndpoint", "secret_ciphertext"),
        ("integrations.PullConnector", "auth_header_ciphertext"),
        ("integrations.PullConnector", "secret_ciphertext"),
        ("core.Later", "secret"),
    }
    assert found_files >= {
        ("integrations.ExcelImport", "file"),
        ("integrations.ExcelImport", "checked_orders"),
        ("core.Later", "attachment"),
    }

    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    row = declared_later.objects.create(secret=crypto.encrypt("+77010000000"), secret_index="stale")
    row.attachment.save("later.enc", ContentFile(crypto.encrypt_bytes(b"personal data")))
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    try:
        output = _rotate("--reindex")
        settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
        row.refresh_from_db()
        assert crypto.decrypt(row.secret) == "+77010000000"
        assert row.secret_index == crypto.blind_index("+77010000000")
        with row.attachment.open("rb") as handle:
            assert crypto.decrypt_bytes(handle.read()) == b"personal data"
        assert output == (
            "Phones re-encrypted: 1; search index recomputed: 1; other values and files re-encrypted: 1"
        )
    finally:
        row.attachment.delete(save=False)


def test_a_blind_index_that_is_not_a_field_of_the_model_fails_the_checks():
    field = EncryptedTextField(blind_index_field="no_such_field")
    field.set_attributes_from_name("ciphertext")
    field.model = OrderPhone

    assert [error.id for error in field.check(databases=[]) if error.level >= checks.ERROR] == ["core.E101"]
    assert [
        e for e in OrderPhone._meta.get_field("ciphertext").check(databases=[]) if e.level >= checks.ERROR
    ] == []
