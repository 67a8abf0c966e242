"""Password hashing with argon2id. Hashing takes tens of milliseconds of CPU on purpose, so it
runs in eventlet's thread pool: inline it would stall every other worker of the process."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from eventlet import tpool

_hasher = PasswordHasher()
# Verified when the username is unknown, so timing does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("not a real password, only for constant-time misses")


def hash_password(password: str) -> str:
    return tpool.execute(_hasher.hash, password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return tpool.execute(_hasher.verify, password_hash or _DUMMY_HASH, password) \
            and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
