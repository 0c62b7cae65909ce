from django.core.management.base import BaseCommand
from django.db import transaction

from ketlogistic.core import crypto
from orders.models import OrderPhone

# Everything else encrypted with FIELD_ENCRYPTION_KEYS: it must move to the newest key too, or dropping an old
# key would make it unreadable (webhook secrets, connectors' credentials, missed callers' numbers).
OTHER_CIPHERTEXTS = [
    ("integrations.WebhookEndpoint", "secret_ciphertext"),
    ("integrations.PullConnector", "auth_header_ciphertext"),
    ("callcenter.InboundCall", "phone_ciphertext"),
]


class Command(BaseCommand):
    help = (
        "Re-encrypt every customer phone (and every other encrypted value and uploaded file) with the newest key of "
        "FIELD_ENCRYPTION_KEYS (put the new key first, keep the old ones until this has run). With --reindex, also "
        "recompute the search index after BLIND_INDEX_KEY changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reindex", action="store_true")
        parser.add_argument("--batch", type=int, default=2000)

    def handle(self, *args, reindex=False, batch=2000, **options):
        rotated = reindexed = 0
        last_id = 0
        while True:
            with transaction.atomic():
                phones = list(
                    OrderPhone.objects.select_for_update().filter(id__gt=last_id).order_by("id")[:batch]
                )
                if not phones:
                    break
                changed = []
                for phone in phones:
                    dirty = False
                    if not crypto.encrypted_with_newest_key(phone.ciphertext):
                        phone.ciphertext = crypto.rotate(phone.ciphertext)
                        rotated += 1
                        dirty = True
                    if reindex:
                        index = crypto.blind_index(crypto.decrypt(phone.ciphertext))
                        if index != phone.blind_index:
                            phone.blind_index = index
                            reindexed += 1
                            dirty = True
                    if dirty:
                        changed.append(phone)
                OrderPhone.objects.bulk_update(changed, ["ciphertext", "blind_index"])
                last_id = phones[-1].id
        others = self._rotate_others(batch)
        self.stdout.write(
            f"Phones re-encrypted: {rotated}; search index recomputed: {reindexed}; "
            f"other values and files re-encrypted: {others}"
        )

    def _rotate_others(self, batch: int) -> int:
        from django.apps import apps
        from django.core.files.base import ContentFile

        from integrations.models import ExcelImport

        rotated = 0
        for label, field in OTHER_CIPHERTEXTS:
            model = apps.get_model(label)
            for pk in model.objects.exclude(**{field: ""}).values_list("pk", flat=True).iterator(batch):
                with transaction.atomic():
                    row = model.objects.select_for_update().get(pk=pk)
                    token = getattr(row, field)
                    if not crypto.encrypted_with_newest_key(token):
                        setattr(row, field, crypto.rotate(token))
                        row.save(update_fields=[field])
                        rotated += 1
        for upload in ExcelImport.objects.exclude(file="", checked_orders="").iterator(batch):
            for stored in (upload.file, upload.checked_orders):
                if not stored:
                    continue
                with stored.open("rb") as handle:
                    token = handle.read()
                if not crypto.encrypted_with_newest_key(token.decode("ascii")):
                    name = stored.name
                    stored.storage.delete(name)
                    stored.storage.save(name, ContentFile(crypto.cipher().rotate(token)))
                    rotated += 1
        return rotated
