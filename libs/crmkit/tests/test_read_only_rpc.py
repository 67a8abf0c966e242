"""A read-only RPC (`@rpc(read_only=True)`) with the real database and broker: its queries
run outside a transaction block, it sees committed data, and every kind of write it might
attempt (ORM flush, Core insert, UPDATE as text, an outbox event, an audit entry) is
refused before it reaches PostgreSQL, so nothing is left half-written. The people
directory, which stores what it had to ask accounts for, answers without storing."""
import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import registry

from crmkit.database import Database, UnitOfWork, read_only_sessions
from crmkit.directory import UserDirectory, directory_metadata, directory_users
from crmkit.entrypoints import rpc
from crmkit.migrations import ensure_database
from crmkit.settings import database_settings
from crmkit.tables import kit_metadata, outbox

SERVICE = "probe_reader"
metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True),
              Column("body", String(100)))


class Note:
    pass


registry().map_imperatively(Note, notes)


class ProbeReader:
    name = SERVICE
    db = Database(relay=False)

    @rpc(read_only=True)
    def read(self):
        session = self.db.session
        count = session.execute(select(func.count()).select_from(notes)).scalar()
        session.execute(text("SELECT pg_sleep(0.01)"))
        # Inside a transaction block now() stays at the block's start; a statement run in
        # autocommit is its own transaction, so now() is its own start.
        own_transaction = session.execute(text("SELECT now() = statement_timestamp()")).scalar()
        return {"count": count, "own_transaction": own_transaction}

    @rpc
    def read_in_transaction(self):
        self.db.session.execute(text("SELECT pg_sleep(0.01)"))
        return self.db.session.execute(text("SELECT now() = statement_timestamp()")).scalar()

    @rpc(read_only=True)
    def write(self, how):
        session = self.db.session
        if how == "orm":
            note = Note()
            note.body = "orm"
            session.add(note)
            session.flush()
        elif how == "core":
            session.execute(insert(notes).values(body="core"))
        elif how == "text":
            session.execute(text("  update notes SET body = 'text'"))
        elif how == "event":
            self.db.emit("note_written", {"body": "event"})
        elif how == "audit":
            self.db.audit("write", "note", 1, None, {"body": "audit"})
        return "written"


@pytest.fixture
def engine():
    ensure_database(SERVICE)
    engine = create_engine(database_settings(SERVICE).url)
    kit_metadata.create_all(engine)
    metadata.create_all(engine)
    directory_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(directory_users.delete())
        conn.execute(notes.delete())
        conn.execute(outbox.delete())
        conn.execute(insert(notes), [{"body": "one"}, {"body": "two"}])
    yield engine
    engine.dispose()


def test_a_read_only_rpc_reads_committed_data_outside_a_transaction(engine, start_service,
                                                                     rpc_as):
    start_service(ProbeReader)
    reader = rpc_as(None, SERVICE)
    assert reader.read() == {"count": 2, "own_transaction": True}
    # The same two statements in an ordinary RPC share one transaction.
    assert reader.read_in_transaction() is False


@pytest.mark.parametrize("how", ["orm", "core", "text", "event", "audit"])
def test_a_read_only_rpc_cannot_write(engine, start_service, rpc_as, how):
    start_service(ProbeReader)
    with pytest.raises(RemoteError) as info:
        rpc_as(None, SERVICE).write(how=how)
    assert info.value.exc_type == "ReadOnlyViolation"
    with engine.connect() as conn:
        assert conn.execute(select(notes.c.body).order_by(notes.c.id)).scalars().all() == [
            "one", "two"]
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0


def test_the_directory_answers_a_read_only_unit_without_storing(engine):
    unit = UnitOfWork(read_only_sessions(engine), {}, SERVICE, read_only=True)
    asked = []

    def fetch(user_ids):
        asked.append(user_ids)
        return [{"id": 7, "display_name": "王芳", "org_unit_id": 1, "org_path": "1.",
                 "roles": ["field_sales"]}]
    try:
        assert UserDirectory(unit, fetch).get(7).display_name == "王芳"
        assert UserDirectory(unit, fetch).get(7).display_name == "王芳"
    finally:
        unit.close()
    assert asked == [[7], [7]]  # not kept, so asked again
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(directory_users)).scalar() == 0
