"""A stream of writes through the gateway as field apps send them: check-ins, inspection
lines and parts orders, each retried with its own Idempotency-Key until accepted (a phone on
a bad network does the same). Every answer is recorded, so a test can say which answers
the faults produced and what was accepted."""
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

RETRY_PAUSE_S = 0.25
GIVE_UP_S = 120
RETRIED_STATUSES = frozenset({503})


class Refused(AssertionError):
    """An answer a retrying client cannot recover from (anything but 2xx or 503)."""


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    transport_errors: int = 0
    lines: list = field(default_factory=list)       # (tag, quantity) accepted
    check_ins: list = field(default_factory=list)   # visit ids checked in
    orders: list = field(default_factory=list)      # (tag, order id) accepted
    failures: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def unexpected(self) -> dict:
        """Every answer other than success and 'unavailable, retry'."""
        return {code: n for code, n in self.statuses.items()
                if not (200 <= code < 300 or code in RETRIED_STATUSES)}


def send(client: httpx.Client, tally: Tally, method: str, path: str, headers: dict,
         body: dict) -> dict:
    """One logical request, repeated with the same key until it is accepted."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        try:
            reply = client.request(method, path, headers={**headers, **key}, json=body)
        except httpx.TransportError:
            with tally.lock:
                tally.transport_errors += 1
        else:
            with tally.lock:
                tally.statuses[reply.status_code] += 1
            if 200 <= reply.status_code < 300:
                return reply.json()
            if reply.status_code not in RETRIED_STATUSES:
                raise Refused(f"{method} {path}: {reply.status_code} {reply.text}")
        if time.monotonic() > deadline:
            raise Refused(f"{method} {path}: still not accepted after {GIVE_UP_S}s")
        time.sleep(RETRY_PAUSE_S)


class Stream:
    """Three writers (lines, check-ins, parts orders) until `stop()`; each finishes the
    request it is in, however long the fault lasts."""

    def __init__(self, base_url: str, world: dict, tally: Tally):
        self.base_url = base_url
        self.world = world
        self.tally = tally
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(writer,), daemon=True)
                        for writer in (self._line, self._check_in, self._order)]

    def __enter__(self) -> "Stream":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=GIVE_UP_S * 3)

    def _run(self, writer) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stopping.is_set():
                try:
                    writer(client)
                except Exception as exc:  # noqa: BLE001 (reported by the test)
                    with self.tally.lock:
                        self.tally.failures.append(repr(exc))
                    return

    def _line(self, client: httpx.Client) -> None:
        world, tag = self.world, f"客户-{uuid.uuid4().hex[:12]}"
        quantity = 1 + len(self.tally.lines) % 5
        send(client, self.tally, "POST", f"/inspections/{world['form_id']}/lines",
             world["owner"], {"customer_name": tag, "store_id": world["store_id"],
                              "product_type": "燃气热水器", "quantity": quantity,
                              "amount": f"{quantity * 100}.00"})
        with self.tally.lock:
            self.tally.lines.append((tag, quantity))

    def _check_in(self, client: httpx.Client) -> None:
        world = self.world
        now = datetime.now(UTC).isoformat()
        visit = send(client, self.tally, "POST", "/visits", world["sales"],
                     {"store_id": world["store_id"], "planned_at": now})
        lat, lon = world["store_at"]
        send(client, self.tally, "POST", f"/visits/{visit['id']}/check-in", world["sales"],
             {"lat": lat, "lon": lon, "accuracy_m": 10, "at": now})
        with self.tally.lock:
            self.tally.check_ins.append(visit["id"])

    def _order(self, client: httpx.Client) -> None:
        world, tag = self.world, uuid.uuid4().hex
        order = send(client, self.tally, "POST", "/parts-orders", world["fixer"],
                     {"warehouse_id": world["warehouse_id"], "note": tag,
                      "lines": [{"part_id": world["part_id"], "qty": 1}]})
        with self.tally.lock:
            self.tally.orders.append((tag, order["id"]))
