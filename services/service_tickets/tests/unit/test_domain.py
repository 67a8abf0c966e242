"""After-sales rules with no I/O."""
from datetime import UTC, date, datetime

import pytest

from crmkit.context import Caller
from service_tickets import domain

AGENT = Caller(user_id=1, roles=frozenset({"service_agent"}))
PARTNER = Caller(user_id=2, roles=frozenset({"repair_partner"}), partner_id=7)
SALES = Caller(user_id=3, roles=frozenset({"field_sales"}))


@pytest.mark.parametrize("imei,problem", [
    ("490154203237518", None),
    ("356938035643809", None),
    ("490154203237517", "check digit does not match (Luhn)"),
    ("49015420323751", "must be 15 digits"),
    ("49015420323751x", "must be 15 digits"),
])
def test_imei_is_fifteen_digits_with_a_luhn_check_digit(imei, problem):
    assert domain.imei_problem(imei) == problem


def test_warranty_runs_whole_months_from_the_sale_and_clamps_short_months():
    assert domain.warranty_until(date(2026, 1, 15), 12) == date(2027, 1, 14)
    assert domain.warranty_until(date(2026, 1, 31), 1) == date(2026, 2, 27)
    assert domain.warranty_until(None, 12) is None
    assert domain.in_warranty(date(2027, 1, 14), date(2027, 1, 14))
    assert not domain.in_warranty(date(2027, 1, 14), date(2027, 1, 15))


def test_only_legal_steps_and_only_by_who_may_take_them():
    assert domain.transition_problem(AGENT, "new", "assigned", None) is None
    assert "cannot become" in domain.transition_problem(AGENT, "new", "repairing", None)
    assert "cannot become" in domain.transition_problem(AGENT, "closed", "repairing", 7)
    assert domain.transition_problem(PARTNER, "assigned", "diagnosing", 7) is None
    assert "may not" in domain.transition_problem(PARTNER, "assigned", "diagnosing", 8)
    assert "may not" in domain.transition_problem(PARTNER, "done", "closed", 7)
    assert "may not" in domain.transition_problem(SALES, "new", "assigned", None)


def test_parts_order_steps():
    assert domain.order_transition_problem(AGENT, "submitted", "approved", 7) is None
    assert "may not" in domain.order_transition_problem(PARTNER, "submitted", "approved", 7)
    assert domain.order_transition_problem(PARTNER, "shipped", "received", 7) is None
    assert domain.order_transition_problem(PARTNER, "submitted", "cancelled", 8) is not None
    assert "cannot become" in domain.order_transition_problem(AGENT, "submitted", "shipped", 7)


def test_sla_hours_are_configurable_and_bad_entries_refused():
    hours = domain.parse_sla_hours("urgent=2, low=240")
    assert hours == {"urgent": 2, "high": 24, "normal": 72, "low": 240}
    opened = datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert domain.due_at(opened, "urgent", hours) == datetime(2026, 11, 23, 10, tzinfo=UTC)
    for bad in ("urgent=0", "soon=3", "high=x"):
        with pytest.raises(ValueError):
            domain.parse_sla_hours(bad)


def test_phones_are_compared_as_digits_without_the_mainland_prefix():
    assert domain.normalise_phone("+86 138-0013-8000") == "13800138000"
    assert domain.normalise_phone("8613800138000") == "13800138000"
    assert domain.normalise_phone("021 6234 5678") == "02162345678"
