"""The caller's identity, carried in nameko context data across RPC calls and events.

The gateway fills these keys from a verified token; services read them through the
`CallerContext` dependency and enforce scope themselves.
"""
from dataclasses import dataclass, field

from nameko.extensions import DependencyProvider

from crmkit.errors import NotAuthenticated
from crmkit.jsonlog import request_id_var

USER_ID = "user_id"
ROLES = "roles"
ORG_UNIT_ID = "org_unit_id"
ORG_PATH = "org_path"
SESSION_ID = "session_id"
# A repair partner's user acts for one channel partner (a service centre).
PARTNER_ID = "partner_id"
REQUEST_ID = "request_id"
IDEMPOTENCY_KEY = "idempotency_key"
REQUEST_HASH = "request_hash"

CONTEXT_KEYS = (USER_ID, ROLES, ORG_UNIT_ID, ORG_PATH, SESSION_ID, PARTNER_ID, REQUEST_ID,
                IDEMPOTENCY_KEY, REQUEST_HASH)


@dataclass(frozen=True)
class Caller:
    user_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)
    org_unit_id: int | None = None
    org_path: str | None = None
    session_id: str | None = None
    partner_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def to_context_data(self) -> dict:
        # Roles travel as one comma-joined string: AMQP header arrays are typed
        # differently by each client library, plain strings are not.
        return {
            USER_ID: self.user_id,
            ROLES: ",".join(sorted(self.roles)),
            ORG_UNIT_ID: self.org_unit_id,
            ORG_PATH: self.org_path,
            SESSION_ID: self.session_id,
            PARTNER_ID: self.partner_id,
        }

    @classmethod
    def from_context_data(cls, data: dict) -> "Caller":
        user_id = data.get(USER_ID)
        roles = data.get(ROLES) or ""
        org_unit_id = data.get(ORG_UNIT_ID)
        partner_id = data.get(PARTNER_ID)
        return cls(
            user_id=int(user_id) if user_id not in (None, "") else None,
            roles=frozenset(r for r in str(roles).split(",") if r),
            org_unit_id=int(org_unit_id) if org_unit_id not in (None, "") else None,
            org_path=data.get(ORG_PATH) or None,
            session_id=data.get(SESSION_ID) or None,
            partner_id=int(partner_id) if partner_id not in (None, "") else None,
        )

    def as_actor(self) -> dict:
        return {"user_id": self.user_id, "roles": sorted(self.roles), "org_path": self.org_path,
                "partner_id": self.partner_id}

    @classmethod
    def from_actor(cls, actor: dict) -> "Caller":
        """The caller recorded in an event envelope, for work done later on their behalf
        (with their scope, not the consumer's)."""
        return cls(user_id=actor.get("user_id"), roles=frozenset(actor.get("roles") or ()),
                   org_path=actor.get("org_path"), partner_id=actor.get("partner_id"))


def require_login(caller: Caller) -> None:
    """Every RPC a person calls checks this first (the gateway is not the only guard)."""
    if not caller.authenticated:
        raise NotAuthenticated("Log in first")


ANONYMOUS = Caller(user_id=None)
SYSTEM = Caller(user_id=None, roles=frozenset({"system"}), org_path="/")


class CallerContext(DependencyProvider):
    """Injects the `Caller` of the current worker and tags its logs with the request id."""

    def worker_setup(self, worker_ctx):
        request_id_var.set(worker_ctx.data.get(REQUEST_ID))

    def get_dependency(self, worker_ctx) -> Caller:
        return Caller.from_context_data(worker_ctx.data)
