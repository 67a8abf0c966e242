"""The gateway's route table: every HTTP operation, the RPC it becomes, and the schemas
that document it. Path parameters become keyword arguments of the same name, a JSON body
becomes `data`, a query string becomes `query`."""
from dataclasses import dataclass

from marshmallow import Schema

from accounts import schemas as accounts


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str
    rpc: str
    summary: str
    tag: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    public: bool = False
    many: bool = False
    body_optional: bool = False
    creates: bool = False


ROUTES = [
    # identity
    Route("POST", "/auth/token", "accounts", "issue_token", "Log in", "auth",
          body=accounts.TokenRequestSchema, response=accounts.TokenSchema, public=True),
    Route("POST", "/auth/refresh", "accounts", "refresh_token", "Refresh tokens", "auth",
          body=accounts.RefreshRequestSchema, response=accounts.TokenSchema, public=True),
    Route("POST", "/auth/logout", "accounts", "logout", "Revoke this session", "auth",
          body=accounts.LogoutRequestSchema, body_optional=True),
    Route("GET", "/me", "accounts", "get_me", "Who am I", "identity",
          response=accounts.MeSchema),
    Route("POST", "/org-units", "accounts", "create_org_unit", "Create an org unit",
          "identity", body=accounts.OrgUnitCreateSchema, response=accounts.OrgUnitSchema,
          status=201, creates=True),
    Route("GET", "/org-units", "accounts", "list_org_units", "List org units in scope",
          "identity", query=accounts.OrgUnitListQuerySchema, response=accounts.OrgUnitSchema,
          many=True),
    Route("GET", "/org-units/{org_unit_id}", "accounts", "get_org_unit", "Get an org unit",
          "identity", response=accounts.OrgUnitSchema),
    Route("PATCH", "/org-units/{org_unit_id}", "accounts", "update_org_unit",
          "Rename or move an org unit (with its subtree)", "identity",
          body=accounts.OrgUnitUpdateSchema, response=accounts.OrgUnitSchema),
    Route("POST", "/users", "accounts", "create_user", "Create a user", "identity",
          body=accounts.UserCreateSchema, response=accounts.UserSchema, status=201,
          creates=True),
    Route("GET", "/users", "accounts", "list_users", "List users in scope", "identity",
          query=accounts.UserListQuerySchema, response=accounts.UserSchema, many=True),
    Route("GET", "/users/{user_id}", "accounts", "get_user", "Get a user", "identity",
          response=accounts.UserSchema),
    Route("PATCH", "/users/{user_id}", "accounts", "update_user", "Change a user", "identity",
          body=accounts.UserUpdateSchema, response=accounts.UserSchema),
    Route("POST", "/users/{user_id}/reassign", "accounts", "reassign_user_records",
          "Move every record the user owns (all services) to another user", "identity",
          body=accounts.ReassignSchema, response=accounts.ReassignResultSchema, creates=True),
    Route("GET", "/audit", "accounts", "list_audit", "Who changed a record, when, how",
          "audit", query=accounts.AuditQuerySchema, response=accounts.AuditEntrySchema,
          many=True),
]

# Services whose health /readyz asks over the bus.
SERVICES = ("accounts", "channels", "visits", "service_tickets", "notifications", "reporting")
