"""Baseline for bench/gateway.py: one plain process answering GET /api/v1/me with the same
token check and the same database read as the system, but no bus and no second process."""
import sys

import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from accounts.models import OrgUnit, User
from accounts.schemas import MeSchema
from crmkit.database import make_engine
from crmkit.settings import database_settings, token_settings
from crmkit.tokens import TokenVerifier

TOKENS = TokenVerifier(token_settings())  # the gateway's token check
ENGINE = make_engine(database_settings("accounts"))
SCHEMA = MeSchema()


def me(request: Request):  # sync: Starlette runs it in its thread pool, like a plain app
    caller, _ = TOKENS.verify(request.headers["authorization"].split()[1])
    with Session(ENGINE) as session:
        row = session.execute(select(User, OrgUnit.path).join(
            OrgUnit, OrgUnit.id == User.org_unit_id).where(User.id == caller.user_id)).first()
    body = SCHEMA.dump(row.User)
    body["org_path"] = row.path
    return JSONResponse(body)


app = Starlette(routes=[Route("/api/v1/me", me)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False)
