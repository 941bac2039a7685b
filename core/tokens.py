"""Secrets: generated with 256 random bits, stored only as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits of entropy


def new_token(prefix: str = "") -> str:
    """A new URL-safe secret with 256 bits of entropy, after an optional prefix (`sk_live_`)."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """The SHA-256 digest under which `token` is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def same_hash(token: str, stored: bytes) -> bool:
    """Whether `token` hashes to `stored`, compared in constant time."""
    return hmac.compare_digest(hash_token(token), stored)
