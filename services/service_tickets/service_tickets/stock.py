"""Stock arithmetic under the database's row locks. Every change locks the (warehouse, part)
rows it touches, in part order so two changes never wait on each other in a cycle, checks
what is available, then writes the new counts and a movement row. The CHECK constraints on
`stocks` are the backstop: no interleaving can leave a count negative."""
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Conflict
from service_tickets.models import Stock, StockMovement, TicketReservation, Warehouse


@dataclass(frozen=True)
class Cause:
    """Why stock moves: recorded on every movement row."""

    reason: str
    parts_order_id: int | None = None
    ticket_id: int | None = None


def shelf_of(unit: UnitOfWork, partner_id: int | None) -> int | None:
    """The warehouse id of a service centre's own shelf, if it keeps one."""
    if partner_id is None:
        return None
    return unit.session.execute(select(Warehouse.id).where(
        Warehouse.partner_id == partner_id)).scalar_one_or_none()


def available(stock: Stock | None) -> int:
    return 0 if stock is None else stock.on_hand - stock.reserved


def lock(unit: UnitOfWork, warehouse_id: int, part_ids, create: bool = False) -> dict:
    """The stock rows of `part_ids` in a warehouse, locked; missing rows are created (empty)
    when `create` is set, otherwise absent from the result."""
    part_ids = sorted(set(part_ids))
    if create:
        unit.session.execute(pg_insert(Stock).values(
            [{"warehouse_id": warehouse_id, "part_id": part_id} for part_id in part_ids])
            .on_conflict_do_nothing())
    rows = unit.session.execute(
        select(Stock).where(Stock.warehouse_id == warehouse_id, Stock.part_id.in_(part_ids))
        .order_by(Stock.part_id).with_for_update()).scalars().all()
    return {row.part_id: row for row in rows}


def _move(unit: UnitOfWork, stock: Stock, on_hand: int, reserved: int, cause: Cause) -> None:
    stock.on_hand += on_hand
    stock.reserved += reserved
    stock.updated_at = utcnow()
    unit.session.add(StockMovement(
        warehouse_id=stock.warehouse_id, part_id=stock.part_id, on_hand_delta=on_hand,
        reserved_delta=reserved, reason=cause.reason, parts_order_id=cause.parts_order_id,
        ticket_id=cause.ticket_id, actor_id=unit.caller.user_id))


def shortage(stocks: dict, lines: list[dict], field: str = "lines") -> Conflict | None:
    """A 409 naming every line that asks for more than is available, or None."""
    short = {f"{field}.{index}.qty": [f"only {available(stocks.get(line['part_id']))} available"]
             for index, line in enumerate(lines)
             if line["qty"] > available(stocks.get(line["part_id"]))}
    if not short:
        return None
    return Conflict("Not enough stock", short, code="insufficient_stock")


def reserve(unit: UnitOfWork, warehouse_id: int, lines: list[dict], cause: Cause) -> None:
    stocks = lock(unit, warehouse_id, [line["part_id"] for line in lines])
    problem = shortage(stocks, lines)
    if problem:
        raise problem
    for line in lines:
        _move(unit, stocks[line["part_id"]], 0, line["qty"], cause)


def release(unit: UnitOfWork, warehouse_id: int, lines: list[dict], cause: Cause) -> None:
    stocks = lock(unit, warehouse_id, [line["part_id"] for line in lines])
    for line in lines:
        _move(unit, stocks[line["part_id"]], 0, -line["qty"], cause)


def ship(unit: UnitOfWork, warehouse_id: int, lines: list[dict], cause: Cause) -> None:
    """Reserved stock leaves the warehouse."""
    stocks = lock(unit, warehouse_id, [line["part_id"] for line in lines])
    for line in lines:
        _move(unit, stocks[line["part_id"]], -line["qty"], -line["qty"], cause)


def receive(unit: UnitOfWork, warehouse_id: int, lines: list[dict], cause: Cause,
            hold_for_ticket: int | None = None) -> None:
    """Stock arrives; parts ordered for a ticket stay reserved for it."""
    stocks = lock(unit, warehouse_id, [line["part_id"] for line in lines], create=True)
    for line in lines:
        held = line["qty"] if hold_for_ticket else 0
        _move(unit, stocks[line["part_id"]], line["qty"], held, cause)
        if held:
            unit.session.execute(pg_insert(TicketReservation).values(
                ticket_id=hold_for_ticket, warehouse_id=warehouse_id, part_id=line["part_id"],
                qty=held).on_conflict_do_update(
                index_elements=["ticket_id", "warehouse_id", "part_id"],
                set_={"qty": TicketReservation.qty + held}))


def _ticket_holds(unit: UnitOfWork, warehouse_id: int, ticket_id: int) -> dict:
    rows = unit.session.execute(select(TicketReservation).where(
        TicketReservation.ticket_id == ticket_id,
        TicketReservation.warehouse_id == warehouse_id).with_for_update()).scalars().all()
    return {row.part_id: row for row in rows}


def consume_for_ticket(unit: UnitOfWork, warehouse_id: int, ticket_id: int,
                       lines: list[dict]) -> None:
    """Parts fitted in a repair: taken from what is held for the ticket first, then from
    what is free on the shelf."""
    stocks = lock(unit, warehouse_id, [line["part_id"] for line in lines])
    holds = _ticket_holds(unit, warehouse_id, ticket_id)
    short = {}
    for index, line in enumerate(lines):
        held = holds[line["part_id"]].qty if line["part_id"] in holds else 0
        free = available(stocks.get(line["part_id"]))
        if line["qty"] > held + free:
            short[f"parts_used.{index}.qty"] = [f"only {held + free} on the centre's shelf"]
    if short:
        raise Conflict("Not enough stock on the service centre's shelf", short,
                       code="insufficient_stock")
    cause = Cause("used in repair", ticket_id=ticket_id)
    for line in lines:
        hold = holds.get(line["part_id"])
        from_hold = min(line["qty"], hold.qty) if hold else 0
        if hold:
            hold.qty -= from_hold
        _move(unit, stocks[line["part_id"]], -line["qty"], -from_hold, cause)


def release_ticket_holds(unit: UnitOfWork, ticket_id: int, reason: str) -> None:
    """What was held for a ticket that no longer needs it (cancelled, closed, sent to
    another centre) becomes free on the shelf. Stock rows are locked before the holds,
    the order every other change here uses, so none of them can deadlock with this."""
    held = unit.session.execute(select(TicketReservation.warehouse_id,
                                       TicketReservation.part_id).where(
        TicketReservation.ticket_id == ticket_id, TicketReservation.qty > 0)).all()
    by_warehouse: dict[int, list[int]] = {}
    for warehouse_id, part_id in held:
        by_warehouse.setdefault(warehouse_id, []).append(part_id)
    stocks = {warehouse_id: lock(unit, warehouse_id, part_ids)
              for warehouse_id, part_ids in sorted(by_warehouse.items())}
    holds = unit.session.execute(select(TicketReservation).where(
        TicketReservation.ticket_id == ticket_id, TicketReservation.qty > 0)
        .order_by(TicketReservation.warehouse_id, TicketReservation.part_id)
        .with_for_update()).scalars().all()
    cause = Cause(reason, ticket_id=ticket_id)
    for hold in holds:
        stock = stocks.get(hold.warehouse_id, {}).get(hold.part_id) or \
            lock(unit, hold.warehouse_id, [hold.part_id])[hold.part_id]
        _move(unit, stock, 0, -hold.qty, cause)
        hold.qty = 0


def adjust(unit: UnitOfWork, warehouse_id: int, part_id: int, qty: int, reason: str) -> Stock:
    """A counted correction or a delivery from the factory; never below what is reserved."""
    stock = lock(unit, warehouse_id, [part_id], create=True)[part_id]
    if stock.on_hand + qty < stock.reserved:
        raise Conflict("The adjustment would leave less on hand than is reserved",
                       {"qty": [f"at least {stock.reserved - stock.on_hand} "
                                f"(on hand {stock.on_hand}, reserved {stock.reserved})"]},
                       code="insufficient_stock")
    _move(unit, stock, qty, 0, Cause(reason))
    return stock
