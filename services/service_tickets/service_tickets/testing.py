"""Callers and device numbers the after-sales tests (RPC, gRPC, end to end) share."""
import random

from crmkit.context import Caller

AGENT = Caller(user_id=9001, roles=frozenset({"service_agent"}), org_path="/1/")
SALES = Caller(user_id=9002, roles=frozenset({"field_sales"}), org_path="/1/")


def random_partner_id() -> int:
    """A channel partner id no other test uses (service_tickets keeps partners by id)."""
    return random.randint(10_000_000, 2**40)


def partner_user(partner_id: int) -> Caller:
    return Caller(user_id=9100 + partner_id % 800, roles=frozenset({"repair_partner"}),
                  org_path="/1/", partner_id=partner_id)


def new_imei() -> str:
    """A random IMEI with a valid Luhn check digit."""
    digits = [random.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)
