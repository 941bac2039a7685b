"""Password hashing with Argon2id (memory-hard), from argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2 import exceptions as argon2_errors

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """The Argon2id hash of `password`, with its salt and parameters encoded."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the `stored` hash."""
    try:
        return _hasher.verify(stored, password)
    except (argon2_errors.VerifyMismatchError, argon2_errors.InvalidHashError):
        return False
