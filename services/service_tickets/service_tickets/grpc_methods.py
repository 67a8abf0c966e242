"""The methods of the `Tickets` gRPC service: for each, its messages and what it does with a
unit of work, as service.py does for the nameko RPCs (validate with the schema, call one
use case, return its dict). Nothing here knows about grpcio."""
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from crmkit.database import UnitOfWork
from crmkit.errors import ValidationFailed
from crmkit.validation import load
from service_tickets import parts_orders, schemas, tickets
from service_tickets.protos_gen import tickets_pb2 as pb

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Tickets"].full_name


@dataclass(frozen=True)
class Method:
    name: str
    request: type[Message]
    response: type[Message]
    run: Callable[[UnitOfWork, dict], dict]
    # The operation name under which an `idempotency-key` is remembered (creates only).
    idempotent_as: str | None = None


def _record_id(data: dict, field: str) -> int:
    """proto3 sends an unset id as 0; ids start at 1."""
    record_id = data.pop(field, 0)
    if record_id <= 0:
        raise ValidationFailed("Invalid input", {field: ["a record id (1 or more) is required"]})
    return record_id


def open_ticket(unit: UnitOfWork, data: dict) -> dict:
    return tickets.open_ticket(unit, load(schemas.TicketCreateSchema(), data))


def get_ticket(unit: UnitOfWork, data: dict) -> dict:
    return tickets.get_ticket(unit, _record_id(data, "ticket_id"))


def find_tickets(unit: UnitOfWork, data: dict) -> dict:
    # An empty key would list every ticket in scope: this call is a lookup, not a listing.
    if not (data.get("imei") or data.get("phone") or "").strip():
        raise ValidationFailed("Invalid input", {"imei": ["give an IMEI or a phone number"]})
    return tickets.list_tickets(unit, load(schemas.TicketListQuerySchema(), data))


def transition_ticket(unit: UnitOfWork, data: dict) -> dict:
    ticket_id = _record_id(data, "ticket_id")
    return tickets.transition_ticket(unit, ticket_id, load(schemas.TransitionSchema(), data))


def add_worklog(unit: UnitOfWork, data: dict) -> dict:
    ticket_id = _record_id(data, "ticket_id")
    return tickets.add_worklog(unit, ticket_id, load(schemas.WorkLogCreateSchema(), data))


def submit_parts_order(unit: UnitOfWork, data: dict) -> dict:
    return parts_orders.submit_order(unit, load(schemas.PartsOrderCreateSchema(), data))


def get_parts_order(unit: UnitOfWork, data: dict) -> dict:
    return parts_orders.get_order(unit, _record_id(data, "order_id"))


def transition_parts_order(unit: UnitOfWork, data: dict) -> dict:
    order_id = _record_id(data, "order_id")
    return parts_orders.transition_order(unit, order_id,
                                         load(schemas.OrderTransitionSchema(), data))


# The operation names are service.py's @idempotent ones: a key a user already spent on a
# create through the gateway is refused here (the request hashes differ), never reused for
# a second record.
METHODS = {method.name: method for method in (
    Method("OpenTicket", pb.OpenTicketRequest, pb.Ticket, open_ticket, "open_ticket"),
    Method("GetTicket", pb.GetTicketRequest, pb.Ticket, get_ticket),
    Method("FindTickets", pb.FindTicketsRequest, pb.TicketPage, find_tickets),
    Method("TransitionTicket", pb.TransitionTicketRequest, pb.Ticket, transition_ticket,
           "transition_ticket"),
    Method("AddWorkLog", pb.AddWorkLogRequest, pb.WorkLogEntry, add_worklog, "add_worklog"),
    Method("SubmitPartsOrder", pb.SubmitPartsOrderRequest, pb.PartsOrder, submit_parts_order,
           "submit_parts_order"),
    Method("GetPartsOrder", pb.GetPartsOrderRequest, pb.PartsOrder, get_parts_order),
    Method("TransitionPartsOrder", pb.TransitionPartsOrderRequest, pb.PartsOrder,
           transition_parts_order),
)}


def check_covers_service() -> None:
    """Every method of the .proto has an entry here with the .proto's message types (a
    start-up check: a method added to the contract and not served fails fast)."""
    service = pb.DESCRIPTOR.services_by_name["Tickets"]
    declared = {m.name: (m.input_type.full_name, m.output_type.full_name)
                for m in service.methods}
    served = {name: (m.request.DESCRIPTOR.full_name, m.response.DESCRIPTOR.full_name)
              for name, m in METHODS.items()}
    if declared != served:
        raise RuntimeError(f"gRPC methods do not match tickets.proto: {declared} != {served}")
