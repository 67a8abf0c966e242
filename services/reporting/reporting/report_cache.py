"""Built channel reports, kept and answered again while nothing they read has changed.

A report is kept per month, group_by and the caller's scope (what `channel_scope` and the
`hq` roll-up read of the caller: global or not, org path, unit), whatever the format asked
(CSV, XLSX and charts are made from the same JSON). It is valid while the versions it was
built at are current: triggers (migration 0003) add one to `month:<month>` in every
statement that changes that month's line totals or forms, and to `global` in every change
of the directory copy, the org unit names or the partners (and on any TRUNCATE, e.g. the
rebuild), in the changing transaction, whoever writes. The versions are read *before* the
report's queries, so a kept report holds at least what its stamp says; a change committed
later moves the stamp and the next reader builds anew.

Kept in `report_cache` (an UNLOGGED table, shared by every replica) and, in front of it,
in each process's memory; a hit costs one read of the versions (a few rows) and sends the
stored JSON as it is (`JsonText`), never decoded and encoded again."""
import json
import threading
from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from crmkit.context import Caller
from crmkit.scope import GLOBAL_ROLES
from reporting import channel_report

# Bytes of report JSON a process keeps in memory (the company's report by partner of
# one month is ~5.5 MB).
MEMORY_BYTES = 64 * 1024 * 1024

_STAMP = text("""
    SELECT coalesce(sum(version) FILTER (WHERE topic = :topic), 0),
           coalesce(sum(version) FILTER (WHERE topic = 'global'), 0)
    FROM report_versions WHERE topic IN (:topic, 'global')""")
_LOOKUP = text("""
    SELECT body FROM report_cache
    WHERE report = :report AND month = :month AND group_by = :group_by AND scope = :scope
      AND stamp = :stamp""")
_STORE = text("""
    INSERT INTO report_cache AS c (report, month, group_by, scope, stamp, body)
    VALUES (:report, :month, :group_by, :scope, :stamp, :body)
    ON CONFLICT (report, month, group_by, scope) DO UPDATE
    SET stamp = excluded.stamp, body = excluded.body, built_at = now()""")


class _Memory:
    """Least recently used report bodies, bounded in bytes."""

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, stamp: str) -> bytes | None:
        with self.lock:
            item = self.items.get(key)
            if item is None or item[0] != stamp:
                return None
            self.items.move_to_end(key)
            return item[1]

    def put(self, key, stamp: str, body: bytes) -> None:
        if len(body) > self.limit:
            return
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= len(old[1])
            self.items[key] = (stamp, body)
            self.size += len(body)
            while self.size > self.limit:
                _, (_, dropped) = self.items.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.size = 0


memory = _Memory(MEMORY_BYTES)


def scope_key(caller: Caller) -> str:
    """Everything of the caller a channel report depends on."""
    if caller.roles & GLOBAL_ROLES:
        kind = "all"
    elif caller.org_path:
        kind = "subtree"
    else:
        return "none"
    return f"{kind}:{caller.org_path or ''}:{caller.org_unit_id or ''}"


def stamp(session: Session, month: str) -> str:
    month_version, global_version = session.connection().execute(
        _STAMP, {"topic": f"month:{month}"}).one()
    return f"{month_version}.{global_version}"


def encode(report: dict) -> bytes:
    return json.dumps(report, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()


def channel_json(session: Session, caller: Caller, month: str, group_by: str) -> bytes:
    """The channel report as JSON (UTF-8), from the cache while it is current."""
    key = {"report": "channels", "month": month, "group_by": group_by,
           "scope": scope_key(caller)}
    current = stamp(session, month)  # before anything the report reads
    memory_key = tuple(key.values())
    body = memory.get(memory_key, current)
    if body is not None:
        return body
    connection = session.connection()
    kept = connection.execute(_LOOKUP, dict(key, stamp=current)).scalar()
    if kept is not None:
        body = bytes(kept)
    else:
        body = encode(channel_report.build(session, caller, month, group_by))
        connection.execute(_STORE, dict(key, stamp=current, body=body))
    memory.put(memory_key, current, body)
    return body
