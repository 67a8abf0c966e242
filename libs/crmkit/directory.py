"""A service's read copy of the people directory (who sits where, who manages whom), owned
by accounts and fed by its events. Services that check owners, managers or scope keep
one in their own database instead of reading accounts' tables.

Events keep it current; a lookup that misses (a user created a moment ago whose event is
still on its way) asks accounts over RPC once and stores the answer. Each row remembers
the time of the fact it holds, so an older event arriving late never overwrites a newer
one.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.context import Caller
from crmkit.database import UnitOfWork, utcnow
from crmkit.entrypoints import event_handler
from crmkit.errors import ValidationFailed
from crmkit.rpc_client import TimedRpcProxy
from crmkit.scope import GLOBAL_ROLES, caller_sees_path
from crmkit.tables import NAMING_CONVENTION

directory_metadata = MetaData(naming_convention=NAMING_CONVENTION)

directory_users = Table(
    "directory_users", directory_metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("org_unit_id", BigInteger, nullable=False),
    Column("org_path", String(1000), nullable=False),
    Column("manager_id", BigInteger),
    Column("roles", ARRAY(String(32)), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("locale", String(10), nullable=False, server_default="zh-CN"),
    # The channel partner a repair partner's user works for.
    Column("partner_id", BigInteger),
    # When the fact held here happened in accounts (event time, or the time of an RPC read).
    Column("as_of", DateTime(timezone=True), nullable=False),
)
Index("ix_directory_users_org_path", directory_users.c.org_path,
      postgresql_ops={"org_path": "text_pattern_ops"})
Index("ix_directory_users_manager_id", directory_users.c.manager_id)
Index("ix_directory_users_partner_id", directory_users.c.partner_id,
      postgresql_where=directory_users.c.partner_id.isnot(None))

# accounts answers at most this many people per call.
FETCH_CHUNK = 500
# How far up a manager chain is followed (a guard against a corrupt cycle).
MAX_CHAIN = 32


@dataclass(frozen=True)
class Person:
    user_id: int
    display_name: str
    org_unit_id: int
    org_path: str
    manager_id: int | None
    roles: frozenset[str]
    active: bool
    locale: str = "zh-CN"
    partner_id: int | None = None

    @classmethod
    def of(cls, values) -> "Person":
        """From a `directory_users` row mapping."""
        return cls(user_id=values["user_id"], display_name=values["display_name"],
                   org_unit_id=values["org_unit_id"], org_path=values["org_path"],
                   manager_id=values["manager_id"], roles=frozenset(values["roles"]),
                   active=values["active"], locale=values.get("locale") or "zh-CN",
                   partner_id=values.get("partner_id"))


def _values(entry: dict, as_of: datetime) -> dict:
    return {"user_id": entry["id"], "display_name": entry.get("display_name") or "",
            "org_unit_id": entry["org_unit_id"], "org_path": entry["org_path"],
            "manager_id": entry.get("manager_id"), "roles": list(entry.get("roles") or ()),
            "active": bool(entry.get("active", True)),
            "locale": entry.get("locale") or "zh-CN", "partner_id": entry.get("partner_id"),
            "as_of": as_of}


def store(unit: UnitOfWork, entry: dict, as_of: datetime) -> None:
    """Upsert one person unless the copy already holds a newer fact."""
    values = _values(entry, as_of)
    stmt = pg_insert(directory_users).values(**values)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[directory_users.c.user_id],
        set_={k: stmt.excluded[k] for k in values if k != "user_id"},
        where=directory_users.c.as_of <= stmt.excluded.as_of))


# --- feeding it from accounts' events ---------------------------------------------------
def apply_user_event(unit: UnitOfWork, event: dict) -> None:
    """`user_created` / `user_updated`: data is `{user, org_path}`."""
    data = event["data"]
    store(unit, dict(data["user"], org_path=data["org_path"]),
          datetime.fromisoformat(event["occurred_at"]))


def apply_org_unit_moved(unit: UnitOfWork, event: dict) -> None:
    """A subtree moved: rebase the paths of everyone in it (one statement)."""
    old, new = event["data"]["old_path"], event["data"]["new_path"]
    unit.session.execute(
        update(directory_users)
        .where(directory_users.c.org_path.startswith(old, autoescape=True))
        .values(org_path=new + func.substr(directory_users.c.org_path, len(old) + 1)))


# --- reading it -------------------------------------------------------------------------
Fetch = Callable[[list[int]], list[dict]]


class UserDirectory:
    """Lookups for one unit of work. `fetch(user_ids)` asks accounts for entries the copy
    lacks (accounts' `get_directory_entries`)."""

    def __init__(self, unit: UnitOfWork, fetch: Fetch):
        self.unit = unit
        self.fetch = fetch
        self._cache: dict[int, Person | None] = {}

    def get_many(self, user_ids) -> dict[int, Person]:
        wanted = {int(u) for u in user_ids if u is not None} - self._cache.keys()
        if wanted:
            rows = self.unit.session.execute(
                select(directory_users).where(directory_users.c.user_id.in_(wanted))).all()
            for row in rows:
                self._cache[row.user_id] = Person.of(row._mapping)
            missing = sorted(wanted - {row.user_id for row in rows})
            now = utcnow()
            for start in range(0, len(missing), FETCH_CHUNK):
                for entry in self.fetch(missing[start:start + FETCH_CHUNK]):
                    # A read-only unit cannot keep the answer; the next miss asks again
                    # (until the user's event fills the copy).
                    if not self.unit.read_only:
                        store(self.unit, entry, now)
                    self._cache[entry["id"]] = Person.of(_values(entry, now))
            for user_id in wanted:
                self._cache.setdefault(user_id, None)
        return {u: self._cache[u] for u in user_ids if self._cache.get(u) is not None}

    def get(self, user_id: int | None) -> Person | None:
        if user_id is None:
            return None
        return self.get_many([user_id]).get(user_id)

    def require(self, user_id: int, field: str, *, within: Caller | None = None,
                active: bool = True) -> Person:
        """The person, or a 400 on `field` when unknown, inactive, or outside `within`'s
        subtree (someone outside your scope is reported as unknown, not as forbidden)."""
        person = self.get(user_id)
        if person is None or (within is not None and not sees_person(within, person)):
            raise ValidationFailed("No such user", {field: ["no such user"]})
        if active and not person.active:
            raise ValidationFailed("The user is inactive", {field: ["the user is inactive"]})
        return person

    def partner_staff(self, partner_id: int | None) -> list[int]:
        """The active users who work for a channel partner (repair partners' staff), from
        the copy alone: there is no one to ask accounts about."""
        if partner_id is None:
            return []
        return list(self.unit.session.execute(
            select(directory_users.c.user_id).where(directory_users.c.partner_id == partner_id,
                                                    directory_users.c.active.is_(True))
            .order_by(directory_users.c.user_id)).scalars())

    def managers_of(self, person: Person) -> list[int]:
        """The manager chain above `person`, nearest first."""
        chain, current = [], person
        while current is not None and current.manager_id is not None \
                and len(chain) < MAX_CHAIN and current.manager_id not in chain:
            chain.append(current.manager_id)
            current = self.get(current.manager_id)
        return chain


def sees_person(caller: Caller, person: Person) -> bool:
    """Oneself, and everyone in one's subtree (admins: everyone)."""
    return caller.user_id == person.user_id or caller_sees_path(caller, person.org_path)


def owned_within(owner_column, caller: Caller):
    """SQL condition: the record's owner sits in the caller's subtree (None: no limit).
    Scope follows the directory, so a moved user's records move with them."""
    if caller.roles & GLOBAL_ROLES:
        return None
    if not caller.org_path:
        return owner_column.is_(None) & owner_column.isnot(None)
    return owner_column.in_(
        select(directory_users.c.user_id)
        .where(directory_users.c.org_path.startswith(caller.org_path, autoescape=True)))


def personal_within(owner_column, caller: Caller, managing_roles: frozenset):
    """SQL condition for personal records (visits, customers, reminders): the owner sees
    their own, managing roles see their subtree's; peers never see each other's."""
    if caller.roles & managing_roles:
        return owned_within(owner_column, caller)
    return owner_column == caller.user_id


class DirectoryReadCopy:
    """Mix into a service class (with a `db = Database()`) to keep the directory copy: the
    handlers of accounts' events, and `people()`, a `UserDirectory` that asks accounts on a
    miss. The service's migrations must include `directory_metadata`."""

    accounts = TimedRpcProxy("accounts")

    def people(self) -> UserDirectory:
        return UserDirectory(
            self.db, lambda ids: self.accounts.get_directory_entries(data={"user_ids": ids}))

    @event_handler("accounts", "user_created")
    def on_user_created(self, event):
        apply_user_event(self.db, event)

    @event_handler("accounts", "user_updated")
    def on_user_updated(self, event):
        apply_user_event(self.db, event)

    @event_handler("accounts", "org_unit_moved")
    def on_org_unit_moved(self, event):
        apply_org_unit_moved(self.db, event)
