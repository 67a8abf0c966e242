"""The spare-parts catalogue, warehouses (HQ, branches, service centres' shelves) and what
they hold, with the adjustment log."""
from sqlalchemy import func, select

from crmkit.database import UnitOfWork
from crmkit.errors import Conflict
from crmkit.pagination import page, paginate
from service_tickets import domain, stock
from service_tickets.access import exists, list_page, require_keeper, require_reader
from service_tickets.models import Part, Stock, StockMovement, Warehouse
from service_tickets.schemas import (
    PartSchema,
    StockMovementSchema,
    StockSchema,
    WarehouseSchema,
)

part_schema = PartSchema()
warehouse_schema = WarehouseSchema()
stock_schema = StockSchema()
movement_schema = StockMovementSchema()


def _check_code_free(unit: UnitOfWork, model, code: str) -> None:
    if unit.session.execute(select(model.id).where(
            func.lower(model.code) == code.lower())).first():
        raise Conflict("The code is taken", {"code": ["already taken"]}, code="duplicate_code")


def create_part(unit: UnitOfWork, data: dict) -> dict:
    require_keeper(unit, "edit the parts catalogue")
    _check_code_free(unit, Part, data["code"])
    part = Part(**data)
    unit.session.add(part)
    unit.session.flush()
    unit.session.refresh(part)
    dumped = part_schema.dump(part)
    unit.audit("create", "part", part.id, None, dumped)
    return dumped


def list_parts(unit: UnitOfWork, query: dict) -> dict:
    require_reader(unit, "the parts catalogue")
    stmt = select(Part)
    if "q" in query:
        pattern = f"%{query['q']}%"
        stmt = stmt.where(Part.name.ilike(pattern) | Part.code.ilike(pattern))
    if "model" in query:
        stmt = stmt.where(Part.models.any(query["model"]))
    return list_page(unit, stmt, Part.id, query, part_schema.dump)


def create_warehouse(unit: UnitOfWork, data: dict) -> dict:
    require_keeper(unit, "create warehouses")
    _check_code_free(unit, Warehouse, data["code"])
    if data.get("partner_id") and unit.session.execute(select(Warehouse.id).where(
            Warehouse.partner_id == data["partner_id"])).first():
        raise Conflict("This partner already has a shelf", {"partner_id": ["already has one"]},
                       code="duplicate")
    warehouse = Warehouse(**data)
    unit.session.add(warehouse)
    unit.session.flush()
    dumped = warehouse_schema.dump(warehouse)
    unit.audit("create", "warehouse", warehouse.id, None, dumped)
    return dumped


def _shelves_in_scope(stmt, unit: UnitOfWork, warehouse_id_column):
    """A repair partner sees the HQ and branch warehouses (to order from) and its own
    shelf, never another partner's."""
    if unit.caller.roles & domain.READERS:
        return stmt
    return stmt.where(warehouse_id_column.in_(select(Warehouse.id).where(
        Warehouse.partner_id.is_(None) | (Warehouse.partner_id == unit.caller.partner_id))))


def list_warehouses(unit: UnitOfWork, query: dict) -> dict:
    require_reader(unit, "warehouses")
    return list_page(unit, _shelves_in_scope(select(Warehouse), unit, Warehouse.id),
                     Warehouse.id, query, warehouse_schema.dump)


def dump_stock(row: Stock) -> dict:
    return stock_schema.dump({"warehouse_id": row.warehouse_id, "part_id": row.part_id,
                              "on_hand": row.on_hand, "reserved": row.reserved,
                              "available": stock.available(row)})


def list_stocks(unit: UnitOfWork, query: dict) -> dict:
    """Stock of one warehouse (paged by part) or of one part (paged by warehouse)."""
    require_reader(unit, "stock")
    stmt = _shelves_in_scope(select(Stock), unit, Stock.warehouse_id)
    for key in ("warehouse_id", "part_id"):
        if key in query:
            stmt = stmt.where(getattr(Stock, key) == query[key])
    by = "part_id" if "warehouse_id" in query else "warehouse_id"
    rows = unit.session.execute(paginate(stmt, getattr(Stock, by), query["limit"],
                                         query["cursor"])).scalars().all()
    return page([dump_stock(row) for row in rows], query["limit"], id_of=lambda item: item[by])


def adjust_stock(unit: UnitOfWork, data: dict) -> dict:
    require_keeper(unit, "adjust stock")
    exists(unit, Warehouse, data["warehouse_id"], "warehouse", "warehouse_id")
    exists(unit, Part, data["part_id"], "part", "part_id")
    row = stock.adjust(unit, data["warehouse_id"], data["part_id"], data["qty"], data["reason"])
    unit.session.flush()
    dumped = dump_stock(row)
    unit.audit("adjust", "stock", f"{row.warehouse_id}:{row.part_id}", None, dumped,
               note=data["reason"])
    return dumped


def list_movements(unit: UnitOfWork, query: dict) -> dict:
    require_reader(unit, "the stock log")
    stmt = _shelves_in_scope(
        select(StockMovement).where(StockMovement.warehouse_id == query["warehouse_id"]),
        unit, StockMovement.warehouse_id)
    if "part_id" in query:
        stmt = stmt.where(StockMovement.part_id == query["part_id"])
    return list_page(unit, stmt, StockMovement.id, query, movement_schema.dump)
