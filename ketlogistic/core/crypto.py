"""Encryption of personal data at rest, and the blind index that lets us search without decrypting.

* `encrypt` / `decrypt`: Fernet (AES-128-CBC + HMAC-SHA256, authenticated) through MultiFernet, so
  several keys can be configured: the first encrypts, all decrypt. A tampered ciphertext fails.
* `blind_index`: HMAC-SHA256 of the normalised number under a separate key. Equal numbers give
  equal indexes, so the hotline finds orders by phone; the index alone does not give the number.
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """The ciphertext was tampered with, or no configured key opens it."""


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: customer phones cannot be encrypted")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a key that is not a Fernet key") from exc


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError("The encrypted value is damaged or no key opens it") from exc


def encrypt_bytes(data: bytes) -> bytes:
    """Files with personal data (uploaded order lists) are stored like phones: Fernet tokens."""
    return cipher().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return cipher().decrypt(token)
    except InvalidToken as exc:
        raise DecryptionError("The encrypted file is damaged or no key opens it") from exc


def rotate(token: str) -> str:
    """The same plaintext under the newest key."""
    try:
        return cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("The encrypted value is damaged or no key opens it") from exc


def encrypted_with_newest_key(token: str) -> bool:
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        newest.decrypt(token.encode("ascii"))
        return True
    except InvalidToken:
        return False


def blind_index(normalised: str) -> str:
    key = settings.BLIND_INDEX_KEY
    if not key:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is empty")
    return hmac.new(key.encode("utf-8"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
