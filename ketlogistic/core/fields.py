"""Field types that declare what is encrypted with FIELD_ENCRYPTION_KEYS, so that the key rotation
(`manage.py rotate_phone_keys`) finds every encrypted column and file by itself, without a hand-kept list.

* `EncryptedTextField`: a text column holding a Fernet token of `ketlogistic.core.crypto.encrypt`.
* `EncryptedFileField`: a file whose stored bytes are a Fernet token of `crypto.encrypt_bytes`.

`encrypted_fields()` and `encrypted_file_fields()` enumerate them over every installed model.
"""

from django.apps import apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token made by `crypto.encrypt` (empty when there is no value).

    A marker, not a transparent cipher: the attribute reads and writes the token itself, and the code that
    writes it calls `crypto.encrypt` and the code that reads it `crypto.decrypt`, as before this type existed.
    That changes nothing for the places that handle tokens without the model (bulk_create and `.values()`
    queries, the volume generator's SQL, the admin that must never show a plaintext), the column stays a
    plain `text` column with the same content, and a decryption happens only where the plaintext is needed.

    `blind_index_field` names the column of the same model that holds `crypto.blind_index` of the plaintext
    (the plaintext is already the normalised form, e.g. a phone in E.164): `rotate_phone_keys --reindex`
    recomputes it after BLIND_INDEX_KEY changed.
    """

    description = "Text encrypted with FIELD_ENCRYPTION_KEYS (a Fernet token)"

    def __init__(self, *args, blind_index_field: str | None = None, **kwargs):
        self.blind_index_field = blind_index_field
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.blind_index_field:
            kwargs["blind_index_field"] = self.blind_index_field
        return name, path, args, kwargs

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if self.blind_index_field:
            try:
                self.model._meta.get_field(self.blind_index_field)
            except FieldDoesNotExist:
                errors.append(
                    checks.Error(
                        f"blind_index_field {self.blind_index_field!r} is not a field of "
                        f"{self.model._meta.label}",
                        obj=self,
                        id="core.E101",
                    )
                )
        return errors


class EncryptedFileField(models.FileField):
    """A file whose stored bytes are a Fernet token made by `crypto.encrypt_bytes`.

    A marker like `EncryptedTextField`: the code that saves the file encrypts it and the code that reads it
    decrypts it (`crypto.decrypt_bytes`); the column still holds the file's name only.
    """

    description = "File encrypted with FIELD_ENCRYPTION_KEYS (a Fernet token)"


def _concrete_models():
    for model in apps.get_models():
        if not model._meta.proxy and model._meta.managed:
            yield model


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every encrypted column of every installed model, each once (a parent's column is the parent's)."""
    return [
        (model, field)
        for model in _concrete_models()
        for field in model._meta.local_concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def encrypted_file_fields() -> list[tuple[type[models.Model], EncryptedFileField]]:
    """Every encrypted file field of every installed model."""
    return [
        (model, field)
        for model in _concrete_models()
        for field in model._meta.local_concrete_fields
        if isinstance(field, EncryptedFileField)
    ]
