"""Bearer tokens: short-lived signed JWTs that any process holding the secret verifies
locally, and opaque refresh tokens (`<session id>.<secret>`) stored hashed."""
import hashlib
import secrets
import time

import jwt

from crmkit.context import Caller
from crmkit.errors import NotAuthenticated
from crmkit.settings import TokenSettings

ALGORITHM = "HS256"


def issue_access_token(settings: TokenSettings, caller: Caller, now: float | None = None) -> str:
    now = int(now or time.time())
    claims = {
        "iss": settings.issuer, "typ": "access", "sub": str(caller.user_id),
        "sid": caller.session_id, "roles": sorted(caller.roles), "org": caller.org_unit_id,
        "path": caller.org_path, "ptn": caller.partner_id, "iat": now,
        "exp": now + settings.access_ttl,
    }
    return jwt.encode(claims, settings.secret, algorithm=ALGORITHM)


def verify_access_token(settings: TokenSettings, token: str) -> tuple[Caller, dict]:
    try:
        claims = jwt.decode(token, settings.secret, algorithms=[ALGORITHM],
                            issuer=settings.issuer,
                            options={"require": ["exp", "iat", "sub", "sid"]})
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("The token has expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise NotAuthenticated("The token is invalid", code="invalid_token") from None
    if claims.get("typ") != "access":
        raise NotAuthenticated("The token is invalid", code="invalid_token")
    try:
        caller = Caller(user_id=int(claims["sub"]), roles=frozenset(claims.get("roles") or ()),
                        org_unit_id=claims.get("org"), org_path=claims.get("path"),
                        session_id=str(claims["sid"]),
                        partner_id=int(claims["ptn"]) if claims.get("ptn") else None)
    except (TypeError, ValueError):
        raise NotAuthenticated("The token is invalid", code="invalid_token") from None
    return caller, claims


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # Refresh secrets are 256 random bits: a fast hash is enough, a KDF adds nothing.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_refresh_token(token: str) -> tuple[str, str]:
    session_id, _, secret = token.partition(".")
    if not session_id or not secret or len(token) > 200:
        raise NotAuthenticated("The refresh token is invalid", code="invalid_token")
    return session_id, secret
