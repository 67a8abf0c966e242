"""The read copy of accounts' customers: location, owner, team, status. Fed by
`customer_created`, `customer_updated`, `customer_transferred` and `customer_merged`."""
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork
from crmkit.directory import Person
from visits.models import CustomerCopy, Visit

COLUMNS = ("name", "address", "lat", "lon", "owner_id", "team_member_ids", "status")


def apply_customer(unit: UnitOfWork, event: dict) -> None:
    customer = event["data"]["customer"]
    values = {"customer_id": customer["id"], "name": customer["name"],
              "address": customer.get("address"), "lat": customer.get("lat"),
              "lon": customer.get("lon"), "owner_id": customer["owner_id"],
              "team_member_ids": customer.get("team_member_ids") or [],
              "status": customer.get("status", "active"),
              "as_of": datetime.fromisoformat(event["occurred_at"])}
    stmt = pg_insert(CustomerCopy).values(**values)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[CustomerCopy.customer_id],
        set_={c: stmt.excluded[c] for c in (*COLUMNS, "as_of")},
        where=CustomerCopy.as_of <= stmt.excluded.as_of))


def apply_transfer(unit: UnitOfWork, event: dict) -> None:
    data = event["data"]
    unit.session.execute(update(CustomerCopy).where(
        CustomerCopy.customer_id == data["customer_id"]).values(owner_id=data["to_owner_id"]))


def apply_merge(unit: UnitOfWork, event: dict) -> None:
    """Visits of the merged customer now belong to the surviving one."""
    source, target = event["data"]["source_id"], event["data"]["target_id"]
    unit.session.execute(update(Visit).where(Visit.customer_id == source)
                         .values(customer_id=target))
    unit.session.execute(update(CustomerCopy).where(CustomerCopy.customer_id == source)
                         .values(status="merged"))


def visitable(customer: CustomerCopy) -> bool:
    return customer.status == "active" and bool(customer.address) \
        and customer.lat is not None and customer.lon is not None


def may_visit(customer: CustomerCopy, visitor: Person, planner_sees_owner: bool) -> bool:
    """Customers are personal: their owner, team members, and managers above the owner."""
    return visitor.user_id == customer.owner_id or \
        visitor.user_id in (customer.team_member_ids or []) or planner_sees_owner
