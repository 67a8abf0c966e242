"""`python -m reporting.rebuild`: empty the read models and replay the event archive into
them, in the order the events were first applied, in one transaction. Readers see the old
figures until it commits; consumers wait on the emptied tables meanwhile and apply their
events after it (an event they archived but had not committed is not in the replay, so
it counts once)."""
import json
import time

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crmkit.database import make_engine
from crmkit.settings import database_settings
from reporting.models import READ_MODELS, ArchivedEvent
from reporting.projections import APPLIERS

BATCH = 5000


def rebuild(engine: Engine) -> dict:
    started = time.perf_counter()
    replayed = 0
    with Session(engine) as session, session.begin():
        names = ", ".join(model.__table__.name for model in READ_MODELS)
        session.execute(text(f"TRUNCATE {names}"))  # noqa: S608  # sql: identifiers only
        last = 0
        while True:
            batch = session.execute(
                select(ArchivedEvent.seq, ArchivedEvent.source, ArchivedEvent.envelope)
                .where(ArchivedEvent.seq > last).order_by(ArchivedEvent.seq)
                .limit(BATCH)).all()
            if not batch:
                break
            for seq, source, envelope in batch:
                APPLIERS[(source, envelope["type"])](session, envelope)
                last = seq
            replayed += len(batch)
    return {"events": replayed, "seconds": round(time.perf_counter() - started, 3)}


def main() -> None:
    engine = make_engine(database_settings("reporting"))
    try:
        print(json.dumps(rebuild(engine)))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
