from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from ketlogistic.core import crypto
from ketlogistic.core.fields import encrypted_fields, encrypted_file_fields


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
        # What to rotate is declared on the models: every EncryptedTextField column and EncryptedFileField file of
        # every installed model. A column with a blind index (a phone) counts as a phone, the rest as other values.
        phones = reindexed = others = 0
        by_model: dict = {}
        for model, field in encrypted_fields():
            by_model.setdefault(model, []).append(field)
        for model, fields in by_model.items():
            rotated, indexed = self._rotate_columns(model, fields, reindex=reindex, batch=batch)
            for field in fields:
                if field.blind_index_field:
                    phones += rotated[field.name]
                else:
                    others += rotated[field.name]
            reindexed += indexed
        for model, field in encrypted_file_fields():
            others += self._rotate_files(model, field, batch)
        self.stdout.write(
            f"Phones re-encrypted: {phones}; search index recomputed: {reindexed}; "
            f"other values and files re-encrypted: {others}"
        )

    def _rotate_columns(self, model, fields, *, reindex: bool, batch: int) -> tuple[dict[str, int], int]:
        """One model's encrypted columns, in batches of rows locked while they change."""
        rotated = {field.name: 0 for field in fields}
        reindexed = 0
        index_of = {field.name: field.blind_index_field for field in fields if field.blind_index_field}
        columns = [field.name for field in fields] + (list(index_of.values()) if reindex else [])
        filled = Q()
        for field in fields:
            filled |= ~Q(**{field.name: ""})
        manager = model._base_manager
        last_pk = None
        while True:
            with transaction.atomic():
                rows = manager.select_for_update().filter(filled).order_by("pk").only("pk", *columns)
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                rows = list(rows[:batch])
                if not rows:
                    break
                changed = []
                for row in rows:
                    dirty = False
                    for field in fields:
                        token = getattr(row, field.name)
                        if not token:
                            continue
                        if not crypto.encrypted_with_newest_key(token):
                            token = crypto.rotate(token)
                            setattr(row, field.name, token)
                            rotated[field.name] += 1
                            dirty = True
                        if reindex and field.name in index_of:
                            index = crypto.blind_index(crypto.decrypt(token))
                            if index != getattr(row, index_of[field.name]):
                                setattr(row, index_of[field.name], index)
                                reindexed += 1
                                dirty = True
                    if dirty:
                        changed.append(row)
                if changed:
                    manager.bulk_update(changed, columns)
                last_pk = rows[-1].pk
        return rotated, reindexed

    def _rotate_files(self, model, field, batch: int) -> int:
        """One encrypted file field: each stored file rewritten under the newest key, its row locked meanwhile."""
        rotated = 0
        manager = model._base_manager
        pks = manager.exclude(**{field.name: ""}).order_by("pk").values_list("pk", flat=True)
        for pk in pks.iterator(batch):
            with transaction.atomic():
                row = manager.select_for_update().filter(pk=pk).exclude(**{field.name: ""}).first()
                if row is None:  # emptied meanwhile (an import forgets its files)
                    continue
                stored = getattr(row, field.name)
                with stored.open("rb") as handle:
                    token = handle.read()
                if crypto.encrypted_with_newest_key(token.decode("ascii")):
                    continue
                name = stored.name
                stored.storage.delete(name)
                saved = stored.storage.save(name, ContentFile(crypto.cipher().rotate(token)))
                if saved != name:
                    manager.filter(pk=pk).update(**{field.name: saved})
                rotated += 1
        return rotated
