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
    # Customer codes: a str.format pattern over {seq} (a database sequence), {yyyy}, {mm}.
    customer_code_pattern: str


def load() -> AccountsSettings:
    return AccountsSettings(
        tokens=token_settings(),
        login=LoginPolicy(
            max_failures=env.int("CRM_LOGIN_MAX_FAILURES", 5),
            lockout_seconds=env.int("CRM_LOGIN_LOCKOUT_SECONDS", 900),
        ),
        customer_code_pattern=_code_pattern(env.str("CRM_CUSTOMER_CODE_PATTERN",
                                                    "C{yyyy}{seq:07d}")),
    )


def _code_pattern(pattern: str) -> str:
    """Fail at start, not at the first customer, on a pattern that cannot make codes."""
    try:
        sample = pattern.format(seq=1, yyyy=2026, mm="01")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"CRM_CUSTOMER_CODE_PATTERN is invalid: {exc}") from None
    if "{seq" not in pattern or not 1 <= len(sample) <= 40:
        raise ValueError("CRM_CUSTOMER_CODE_PATTERN must use {seq} and make codes of 1-40 "
                         "characters")
    return pattern


def bootstrap_admin_password() -> str:
    return env.str("CRM_BOOTSTRAP_ADMIN_PASSWORD")
