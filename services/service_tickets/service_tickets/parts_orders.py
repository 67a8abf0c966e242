"""Partner parts orders: submitted -> approved (reserves stock) -> shipped (deducts) ->
received (onto the partner's shelf), or rejected / cancelled (releases what was reserved).
Each step locks the order, then the stock rows, so concurrent approvals from any number of
workers queue on the same rows and the last units go to exactly one of them."""
from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.errors import Conflict, Forbidden
from crmkit.pagination import page, paginate
from service_tickets import domain, stock
from service_tickets.access import exists, invalid, list_page, partner_scoped, require, visible
from service_tickets.models import (
    Part,
    PartsOrder,
    PartsOrderLine,
    PartsReturn,
    Stock,
    Ticket,
    Warehouse,
)
from service_tickets.schemas import PartsOrderSchema, PartsReturnSchema

order_schema = PartsOrderSchema()
return_schema = PartsReturnSchema()


def _ordering_partner(unit: UnitOfWork, given: int | None) -> int:
    """A repair partner orders for itself; the desk names the partner."""
    caller = unit.caller
    if domain.is_partner(caller):
        if given not in (None, caller.partner_id):
            raise Forbidden("You may order only for your own organisation",
                            {"partner_id": ["not your organisation"]})
        return caller.partner_id
    require(unit, domain.is_desk(caller), "order parts")
    if given is None:
        raise invalid("partner_id", "name the partner the parts are for")
    return given


def _lines_of_orders(unit: UnitOfWork, order_ids: list[int]) -> dict[int, list[dict]]:
    """The lines of several orders in one query (a page of orders, or one)."""
    lines: dict[int, list[dict]] = {order_id: [] for order_id in order_ids}
    for row in unit.session.execute(select(PartsOrderLine).where(
            PartsOrderLine.order_id.in_(order_ids))
            .order_by(PartsOrderLine.order_id, PartsOrderLine.part_id)).scalars():
        lines[row.order_id].append({"part_id": row.part_id, "qty": row.qty})
    return lines


def _lines_of(unit: UnitOfWork, order_id: int) -> list[dict]:
    return _lines_of_orders(unit, [order_id])[order_id]


def _dump(unit: UnitOfWork, order: PartsOrder, lines: list[dict] | None = None) -> dict:
    return order_schema.dump({**{key: getattr(order, key) for key in (
        "id", "partner_id", "warehouse_id", "ticket_id", "status", "note", "submitted_by",
        "created_at", "updated_at")},
        "lines": lines if lines is not None else _lines_of(unit, order.id)})


def _check_parts(unit: UnitOfWork, lines: list[dict]) -> None:
    active = set(unit.session.execute(select(Part.id).where(
        Part.id.in_([line["part_id"] for line in lines]), Part.active.is_(True))).scalars())
    for index, line in enumerate(lines):
        if line["part_id"] not in active:
            raise invalid(f"lines.{index}.part_id", "no such part in the catalogue")


def submit_order(unit: UnitOfWork, data: dict) -> dict:
    partner_id = _ordering_partner(unit, data.pop("partner_id", None))
    warehouse = exists(unit, Warehouse, data["warehouse_id"], "warehouse", "warehouse_id")
    if warehouse.partner_id is not None:
        raise invalid("warehouse_id", "orders are filled from HQ or branch warehouses")
    if data.get("ticket_id"):
        ticket = unit.session.get(Ticket, data["ticket_id"])
        if ticket is None or ticket.partner_id != partner_id:
            raise invalid("ticket_id", "no such ticket at this partner")
        if ticket.status not in domain.OPEN_STATUSES:
            raise invalid("ticket_id", f"the ticket is {ticket.status}")
    lines = data.pop("lines")
    _check_parts(unit, lines)
    # An order that could never be filled is refused now; approval checks again under lock.
    current = {row.part_id: row for row in unit.session.execute(select(Stock).where(
        Stock.warehouse_id == warehouse.id,
        Stock.part_id.in_([line["part_id"] for line in lines]))).scalars()}
    problem = stock.shortage(current, lines)
    if problem:
        raise problem
    order = PartsOrder(**data, partner_id=partner_id, submitted_by=unit.caller.user_id)
    unit.session.add(order)
    unit.session.flush()
    unit.session.add_all([PartsOrderLine(order_id=order.id, **line) for line in lines])
    unit.session.flush()
    unit.session.refresh(order)
    dumped = _dump(unit, order, sorted(lines, key=lambda line: line["part_id"]))
    unit.audit("create", "parts_order", order.id, None, dumped)
    unit.emit("parts_order_status_changed", {"order": dumped, "from": None, "to": "submitted"})
    return dumped


def _visible_order(unit: UnitOfWork, order_id: int, lock: bool = False) -> PartsOrder:
    require(unit, domain.may_read_tickets(unit.caller), "see parts orders")
    return visible(unit, PartsOrder, order_id, "parts order", lock=lock)


def get_order(unit: UnitOfWork, order_id: int) -> dict:
    return _dump(unit, _visible_order(unit, order_id))


def list_orders(unit: UnitOfWork, query: dict) -> dict:
    require(unit, domain.may_read_tickets(unit.caller), "see parts orders")
    stmt = partner_scoped(select(PartsOrder), PartsOrder, unit)
    for key in ("status", "partner_id", "ticket_id"):
        if key in query:
            stmt = stmt.where(getattr(PartsOrder, key) == query[key])
    orders = unit.session.execute(paginate(stmt, PartsOrder.id, query["limit"],
                                           query["cursor"])).scalars().all()
    lines = _lines_of_orders(unit, [order.id for order in orders])
    return page([_dump(unit, order, lines[order.id]) for order in orders], query["limit"])


def transition_order(unit: UnitOfWork, order_id: int, data: dict) -> dict:
    order = _visible_order(unit, order_id, lock=True)
    to = data["to"]
    if to not in domain.ORDER_FLOW[order.status]:
        raise Conflict(f"A {order.status} parts order cannot become {to}",
                       {"to": [f"not allowed from {order.status}"]}, code="illegal_transition")
    problem = domain.order_transition_problem(unit.caller, order.status, to, order.partner_id)
    if problem:
        raise Forbidden(problem)
    lines = _lines_of(unit, order.id)
    from_status = order.status
    order.status = to
    if data.get("note"):
        order.note = data["note"]
    unit.session.flush()
    unit.session.refresh(order)
    after = _dump(unit, order, lines)
    unit.audit("transition", "parts_order", order.id, None, after,
               note=f"{from_status} -> {to}")
    unit.emit("parts_order_status_changed", {"order": after, "from": from_status, "to": to})
    # Stock last: its rows are the contended ones, locked only until the commit right after.
    _move_stock(unit, order, from_status, to, lines)
    return after


def _still_needing(unit: UnitOfWork, order: PartsOrder) -> int | None:
    """The order's ticket, if it is still open at this partner (locked, so it cannot be
    closed or sent elsewhere while its parts are put on hold); else the parts arrive free."""
    if order.ticket_id is None:
        return None
    ticket = unit.session.execute(select(Ticket).where(Ticket.id == order.ticket_id)
                                  .with_for_update()).scalar_one_or_none()
    if ticket is None or ticket.status not in domain.OPEN_STATUSES \
            or ticket.partner_id != order.partner_id:
        return None
    return ticket.id


def _move_stock(unit: UnitOfWork, order: PartsOrder, from_status: str, to: str,
                lines: list[dict]) -> None:
    cause = stock.Cause(f"parts order {to}", parts_order_id=order.id, ticket_id=order.ticket_id)
    if to == "approved":
        stock.reserve(unit, order.warehouse_id, lines, cause)
    elif to == "shipped":
        stock.ship(unit, order.warehouse_id, lines, cause)
    elif to == "cancelled" and from_status == "approved":
        stock.release(unit, order.warehouse_id, lines, cause)
    elif to == "received":
        shelf = stock.shelf_of(unit, order.partner_id)
        if shelf is not None:
            stock.receive(unit, shelf, lines, cause,
                          hold_for_ticket=_still_needing(unit, order))


# --- faulty-part returns --------------------------------------------------------------------
def create_return(unit: UnitOfWork, data: dict) -> dict:
    partner_id = _ordering_partner(unit, data.pop("partner_id", None))
    exists(unit, Warehouse, data["warehouse_id"], "warehouse", "warehouse_id")
    exists(unit, Part, data["part_id"], "part", "part_id")
    if data.get("ticket_id"):
        ticket = unit.session.get(Ticket, data["ticket_id"])
        if ticket is None or ticket.partner_id != partner_id:
            raise invalid("ticket_id", "no such ticket at this partner")
    record = PartsReturn(**data, partner_id=partner_id, created_by=unit.caller.user_id)
    unit.session.add(record)
    unit.session.flush()
    unit.session.refresh(record)
    dumped = return_schema.dump(record)
    unit.audit("create", "parts_return", record.id, None, dumped)
    return dumped


def list_returns(unit: UnitOfWork, query: dict) -> dict:
    require(unit, domain.may_read_tickets(unit.caller), "see parts returns")
    return list_page(unit, partner_scoped(select(PartsReturn), PartsReturn, unit),
                     PartsReturn.id, query, return_schema.dump)
