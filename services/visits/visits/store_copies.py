"""The read copy of channels' stores: what visits needs to know where a store is and
whose it is, fed by `store_created`, `store_updated` and `stores_imported`."""
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork
from visits.models import StoreCopy


def _values(store: dict, as_of: datetime) -> dict:
    return {"store_id": store["id"], "code": store["code"], "name": store["name"],
            "address": store.get("address"), "lat": store.get("lat"),
            "lon": store.get("lon"), "owner_id": store["owner_id"],
            "status": store.get("status", "active"), "as_of": as_of}


def upsert(unit: UnitOfWork, stores: list[dict], as_of: datetime) -> None:
    """Upsert stores unless the copy already holds a newer fact about them."""
    if not stores:
        return
    stmt = pg_insert(StoreCopy).values([_values(s, as_of) for s in stores])
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[StoreCopy.store_id],
        set_={c: stmt.excluded[c] for c in ("code", "name", "address", "lat", "lon",
                                             "owner_id", "status", "as_of")},
        where=StoreCopy.as_of <= stmt.excluded.as_of))


def apply_event(unit: UnitOfWork, event: dict) -> None:
    data = event["data"]
    stores = data["stores"] if "stores" in data else [data["store"]]
    upsert(unit, stores, datetime.fromisoformat(event["occurred_at"]))


def visitable(store: StoreCopy) -> bool:
    return store.status == "active" and bool(store.address) and store.lat is not None \
        and store.lon is not None
