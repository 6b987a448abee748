"""Authenticated encryption for the few secrets we must hold briefly (a link token waiting in
the SMS outbox). Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`; the key is derived
from the app secret, so a copy of the database alone reveals no token."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from app.domain.errors import DomainError


class SealBroken(DomainError):
    message = "A sealed value could not be opened (wrong key or tampered)."


class SecretBox:
    def __init__(self, app_secret: str) -> None:
        digest = hashlib.sha256(b"monitorpay/sealed/v1:" + app_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealBroken() from None
