"""Which events become which notices, for whom. One function per event; each picks the
recipients (never skipping levels: a report goes to the direct manager) and the values
its template shows."""
from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory
from notifications.inbox import deliver


def collaborator_added(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    related = ("action_plan", data["plan_id"])
    deliver(unit, people, event, "collaborator_added", [data["collaborator_id"]], data,
            related)
    deliver(unit, people, event, "collaborator_added_manager", [data.get("owner_manager_id")],
            data, related)


def inspection_submitted(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    """Reports go up one level: to the submitter's direct manager."""
    data = event["data"]
    submitter = people.get(data["by"])
    deliver(unit, people, event, "inspection_submitted",
            [submitter.manager_id if submitter else None], data,
            ("inspection", data["inspection_id"]))


def inspection_reviewed(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    deliver(unit, people, event, "inspection_reviewed", [data["owner_id"]], data,
            ("inspection", data["inspection_id"]))


def visit_planned(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    visit = event["data"]["visit"]
    if event["data"]["assigned_by"] != visit["user_id"]:  # nobody is told of their own plan
        deliver(unit, people, event, "visit_assigned", [visit["user_id"]], visit,
                ("visit", visit["id"]))


def fraud_signal_raised(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    visitor = people.get(data["user_id"])
    deliver(unit, people, event, "fraud_signal", [visitor.manager_id if visitor else None],
            data, ("visit", data["visit_id"]))


def customer_transferred(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    deliver(unit, people, event, "customer_transferred", [data["to_owner_id"]], data,
            ("customer", data["customer_id"]))


def report_submitted(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    """A month's report sent one level up: reporting has already checked the recipient is
    the sender's direct manager."""
    data = event["data"]
    deliver(unit, people, event, "report_submitted", [data["recipient_id"]], data,
            ("report_submission", data["submission_id"]))


def report_commented(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    deliver(unit, people, event, "report_commented", [data["recipient_id"]], data,
            ("report_submission", data["submission_id"]))


# --- after-sales: the repair partner's staff hear about their tickets and orders ----------
ORDER_STEPS_TOLD = frozenset({"approved", "rejected", "shipped", "cancelled"})


def ticket_dispatched(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    ticket = data["ticket"]
    if data["to"] != "assigned" or ticket.get("partner_id") is None:
        return
    if (event.get("actor") or {}).get("partner_id") == ticket["partner_id"]:
        return  # the partner took it in at its own counter: nothing to tell it
    deliver(unit, people, event, "ticket_dispatched", people.partner_staff(ticket["partner_id"]),
            {"ticket_id": ticket["id"], "priority": ticket["priority"],
             "due_at": ticket["due_at"], "fault": ticket["fault_description"][:100]},
            ("ticket", ticket["id"]))


def ticket_sla_warning(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    deliver(unit, people, event, "ticket_sla_warning", people.partner_staff(data["partner_id"]),
            data, ("ticket", data["ticket_id"]))


def ticket_sla_breached(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    deliver(unit, people, event, "ticket_sla_breached", people.partner_staff(data["partner_id"]),
            data, ("ticket", data["ticket_id"]))


def parts_order_status_changed(unit: UnitOfWork, people: UserDirectory, event: dict) -> None:
    data = event["data"]
    order = data["order"]
    by_partner = (event.get("actor") or {}).get("partner_id") == order["partner_id"]
    if data["to"] not in ORDER_STEPS_TOLD or by_partner:
        return
    deliver(unit, people, event, f"parts_order_{data['to']}",
            people.partner_staff(order["partner_id"]),
            {"order_id": order["id"], "lines": len(order["lines"])},
            ("parts_order", order["id"]))
