from django.core.management.base import BaseCommand
from django.db import transaction

from ketlogistic.core import crypto
from orders.models import OrderPhone


class Command(BaseCommand):
    help = (
        "Re-encrypt every customer phone with the newest key of FIELD_ENCRYPTION_KEYS (put the new key first, keep "
        "the old ones until this has run). With --reindex, also recompute the search index after BLIND_INDEX_KEY "
        "changed."
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
        self.stdout.write(f"Phones re-encrypted: {rotated}; search index recomputed: {reindexed}")
