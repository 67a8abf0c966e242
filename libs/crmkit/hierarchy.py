"""Records with a `parent_id` (customer groups, partner hierarchies): a new parent must not
sit below the record itself, and chains stay shallow."""
from crmkit.database import UnitOfWork
from crmkit.errors import Conflict, ValidationFailed

MAX_DEPTH = 32


def check_parent(unit: UnitOfWork, model, record_id: int | None, parent, what: str,
                 max_depth: int = MAX_DEPTH) -> None:
    """`parent` (already found visible) may take `record_id` (None for a new record)."""
    current = parent
    for _ in range(max_depth):
        if record_id is not None and current.id == record_id:
            raise Conflict(f"A {what} cannot sit below itself",
                           {"parent_id": ["would make a cycle"]}, code="cycle")
        if current.parent_id is None:
            return
        current = unit.session.get(model, current.parent_id)
    problem = f"the {what} hierarchy is deeper than {max_depth} levels"
    raise ValidationFailed(problem, {"parent_id": [problem]})
