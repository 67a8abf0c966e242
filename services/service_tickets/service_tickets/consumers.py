"""Consumers (end users) and the devices registered to them, with each device's history
(registered, returned, exchanged, repaired, scrapped)."""
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select

from crmkit.database import UnitOfWork
from crmkit.errors import Conflict, Forbidden
from service_tickets import domain
from service_tickets.access import list_page, require, require_reader
from service_tickets.models import Consumer, Product, ProductEvent, Ticket
from service_tickets.schemas import ConsumerSchema, ProductEventSchema, ProductSchema
from service_tickets.settings import ticket_settings

consumer_schema = ConsumerSchema()
product_schema = ProductSchema()
product_event_schema = ProductEventSchema()


def _may_register(unit: UnitOfWork) -> bool:
    return domain.is_desk(unit.caller) or domain.is_partner(unit.caller)


def consumer_scoped(stmt, unit: UnitOfWork):
    """A repair partner sees the consumers it registered and those whose tickets it holds."""
    caller = unit.caller
    if caller.roles & domain.READERS:
        return stmt
    partner_id = caller.partner_id
    return stmt.where(or_(
        Consumer.intake_partner_id == partner_id,
        exists().where(Ticket.consumer_id == Consumer.id, Ticket.partner_id == partner_id)))


def dump_consumer(unit: UnitOfWork, consumer: Consumer) -> dict:
    dumped = consumer_schema.dump(consumer)
    if not domain.sees_full_phones(unit.caller):
        dumped["phone"] = domain.mask_phone(dumped["phone"])
    return dumped


def require_phone_search(unit: UnitOfWork, query: dict) -> None:
    if "phone" in query and not domain.sees_full_phones(unit.caller):
        raise Forbidden("Your role may not search by phone", {"phone": ["not allowed"]})


def visible_consumer(unit: UnitOfWork, consumer_id: int, field: str | None = None) -> Consumer:
    require_reader(unit, "consumers")
    return unit.one_or_missing(consumer_scoped(
        select(Consumer).where(Consumer.id == consumer_id), unit), "consumer", field)


def create_consumer(unit: UnitOfWork, data: dict) -> dict:
    require(unit, _may_register(unit), "register consumers")
    consumer = Consumer(**{**data, "phone": domain.normalise_phone(data["phone"])},
                        created_by=unit.caller.user_id,
                        intake_partner_id=unit.caller.partner_id
                        if domain.is_partner(unit.caller) else None)
    unit.session.add(consumer)
    unit.session.flush()
    unit.session.refresh(consumer)
    dumped = consumer_schema.dump(consumer)
    unit.audit("create", "consumer", consumer.id, None, dumped)
    return dumped


def get_consumer(unit: UnitOfWork, consumer_id: int) -> dict:
    return dump_consumer(unit, visible_consumer(unit, consumer_id))


def list_consumers(unit: UnitOfWork, query: dict) -> dict:
    require_reader(unit, "consumers")
    require_phone_search(unit, query)
    stmt = consumer_scoped(select(Consumer), unit)
    if "phone" in query:
        stmt = stmt.where(Consumer.phone == domain.normalise_phone(query["phone"]))
    if "q" in query:
        stmt = stmt.where(Consumer.name.ilike(f"%{query['q']}%"))
    return list_page(unit, stmt, Consumer.id, query, lambda c: dump_consumer(unit, c))


# --- products -------------------------------------------------------------------------------
def _record(unit: UnitOfWork, product_id: int, kind: str, note: str | None = None,
            ticket_id: int | None = None) -> None:
    unit.session.add(ProductEvent(product_id=product_id, kind=kind, note=note,
                                  ticket_id=ticket_id, actor_id=unit.caller.user_id))


def _check_not_registered(unit: UnitOfWork, consumer_id: int, data: dict) -> None:
    for key in ("imei", "serial"):
        if not data.get(key):
            continue
        owner = unit.session.execute(select(Product.consumer_id).where(
            getattr(Product, key) == data[key])).scalar_one_or_none()
        if owner is not None:
            whose = "this consumer" if owner == consumer_id else "another consumer"
            raise Conflict(f"This device is already registered to {whose}",
                           {key: [f"already registered to {whose}"]},
                           code="already_registered")


def register_product(unit: UnitOfWork, consumer_id: int, data: dict) -> dict:
    require(unit, _may_register(unit), "register products")
    visible_consumer(unit, consumer_id)
    _check_not_registered(unit, consumer_id, data)
    months = data.pop("warranty_months")
    if domain.is_partner(unit.caller):
        data["registered_via"] = "repair_point"
    product = Product(**data, consumer_id=consumer_id,
                      warranty_until=domain.warranty_until(data.get("sold_at"), months))
    unit.session.add(product)
    unit.session.flush()
    _record(unit, product.id, "registered", note=data["registered_via"])
    unit.session.refresh(product)
    dumped = product_schema.dump(product)
    unit.audit("create", "product", product.id, None, dumped)
    return dumped


def visible_product(unit: UnitOfWork, product_id: int, field: str | None = None,
                    lock: bool = False) -> Product:
    require_reader(unit, "products")
    stmt = consumer_scoped(select(Product).join(Consumer, Consumer.id == Product.consumer_id)
                           .where(Product.id == product_id), unit)
    return unit.one_or_missing(stmt, "product", field, lock_of=Product if lock else None)


def get_product(unit: UnitOfWork, product_id: int) -> dict:
    return product_schema.dump(visible_product(unit, product_id))


def list_products(unit: UnitOfWork, query: dict) -> dict:
    require_reader(unit, "products")
    stmt = consumer_scoped(select(Product).join(Consumer, Consumer.id == Product.consumer_id),
                           unit)
    for key in ("imei", "serial", "consumer_id"):
        if key in query:
            stmt = stmt.where(getattr(Product, key) == query[key])
    return list_page(unit, stmt, Product.id, query, product_schema.dump)


def change_product(unit: UnitOfWork, product_id: int, data: dict) -> dict:
    """A return, an exchange or scrapping: the device's status follows, history kept."""
    require(unit, domain.is_desk(unit.caller), "record returns and exchanges")
    product = visible_product(unit, product_id, lock=True)
    if product.status != "active":
        raise Conflict(f"The product is already {product.status}",
                       {"kind": [f"product is {product.status}"]}, code="illegal_transition")
    before = product_schema.dump(product)
    product.status = data["kind"]
    _record(unit, product.id, data["kind"], data.get("note"), data.get("ticket_id"))
    unit.session.flush()
    unit.session.refresh(product)
    after = product_schema.dump(product)
    unit.audit("update", "product", product.id, before, after, note=data["kind"])
    return after


def record_repair(unit: UnitOfWork, product_id: int, ticket_id: int, note: str | None) -> None:
    _record(unit, product_id, "repaired", note, ticket_id)


def product_history(unit: UnitOfWork, product_id: int, query: dict) -> dict:
    visible_product(unit, product_id)
    stmt = select(ProductEvent).where(ProductEvent.product_id == product_id)
    return list_page(unit, stmt, ProductEvent.id, query, product_event_schema.dump)


def local_today(now: datetime):
    return now.astimezone(ZoneInfo(ticket_settings().time_zone)).date()
