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
