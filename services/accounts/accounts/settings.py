"""Settings of the accounts process, read once at start."""
from dataclasses import dataclass

from crmkit.settings import TokenSettings, env, token_settings


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout_seconds: int


@dataclass(frozen=True)
class AccountsSettings:
    tokens: TokenSettings
    login: LoginPolicy


def load() -> AccountsSettings:
    return AccountsSettings(
        tokens=token_settings(),
        login=LoginPolicy(
            max_failures=env.int("CRM_LOGIN_MAX_FAILURES", 5),
            lockout_seconds=env.int("CRM_LOGIN_LOCKOUT_SECONDS", 900),
        ),
    )


def bootstrap_admin_password() -> str:
    return env.str("CRM_BOOTSTRAP_ADMIN_PASSWORD")
