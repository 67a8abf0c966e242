"""Stores and service points: create, read, change. Every change is published
(`store_created` / `store_updated`) so visits can keep its read copy of locations."""
from decimal import Decimal

from sqlalchemy import func, select

from channels import domain
from channels.access import check_new_owner, list_page, require_maintainer, require_role, visible
from channels.models import Partner, Store
from channels.schemas import StoreSchema
from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict

store_schema = StoreSchema()


def _check_code_free(unit: UnitOfWork, code: str) -> None:
    taken = unit.session.execute(
        select(Store.id).where(func.lower(Store.code) == code.lower())).first()
    if taken:
        raise Conflict("A store with this code exists", {"code": ["already taken"]},
                       code="duplicate_code")


def create_store(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    require_role(unit, domain.MAINTAINERS, "create stores")
    owner_id = data.pop("owner_id", unit.caller.user_id)
    check_new_owner(unit, people, owner_id)
    visible(unit, Partner, data["partner_id"], "partner", field="partner_id")
    _check_code_free(unit, data["code"])
    store = Store(**data, owner_id=owner_id)
    unit.session.add(store)
    unit.session.flush()
    unit.session.refresh(store)
    dumped = store_schema.dump(store)
    unit.audit("create", "store", store.id, None, dumped)
    unit.emit("store_created", {"store": dumped})
    return dumped


def get_store(unit: UnitOfWork, store_id: int) -> dict:
    return store_schema.dump(visible(unit, Store, store_id, "store"))


def list_stores(unit: UnitOfWork, query: dict) -> dict:
    return list_page(unit, Store, query, ("partner_id", "owner_id", "region", "status"),
                     (Store.name, Store.code, Store.address), store_schema.dump)


def _same(stored, given) -> bool:
    """lat/lon come back as Decimal(10,7) and arrive as floats: compare what is stored."""
    if isinstance(stored, Decimal) and isinstance(given, float):
        return stored == Decimal(str(round(given, 7)))
    return stored == given


def update_store(unit: UnitOfWork, people: UserDirectory, store_id: int, data: dict) -> dict:
    store = visible(unit, Store, store_id, "store", lock=True)
    require_maintainer(unit, store.owner_id, "store")
    changed = {k: v for k, v in data.items() if not _same(getattr(store, k), v)}
    if "owner_id" in changed:
        check_new_owner(unit, people, changed["owner_id"])
    if "partner_id" in changed:
        visible(unit, Partner, changed["partner_id"], "partner", field="partner_id")
    if not changed:
        return store_schema.dump(store)
    before = store_schema.dump(store)
    for name, value in changed.items():
        setattr(store, name, value)
    unit.session.flush()
    unit.session.refresh(store)
    after = store_schema.dump(store)
    unit.audit("update", "store", store.id, before, after)
    unit.emit("store_updated", {"store": after, "changed": sorted(changed)})
    return after
