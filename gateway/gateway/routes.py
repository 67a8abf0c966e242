"""The gateway's route table: every HTTP operation, the RPC it becomes, and the schemas
that document it. Path parameters become keyword arguments of the same name, a JSON body
becomes `data`, a query string becomes `query`."""
from dataclasses import dataclass

from marshmallow import Schema

from accounts import schemas as accounts
from channels import schemas as channels
from crmkit.audit import AuditEntrySchema, audit_query_schema
from crmkit.pagination import PageQuerySchema
from notifications import schemas as notifications
from visits import schemas as visits

# Which service keeps the audit log of each resource.
AUDIT_OWNERS = {**dict.fromkeys(accounts.AUDITED_RESOURCES, "accounts"),
                **dict.fromkeys(channels.AUDITED_RESOURCES, "channels")}


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
    # The body is a multipart file upload (field `file`), not JSON.
    upload: bool = False
    # The RPC answers a file ({filename, content_type, content_base64}): send its bytes.
    download: bool = False
    # (query parameter, {value: service}): the service is chosen by that parameter.
    service_by: tuple[str, dict[str, str]] | None = None


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
    # customers
    Route("POST", "/customers", "accounts", "create_customer",
          "Create a customer (409 duplicate_suspected with candidates unless "
          "allow_duplicate=true)", "customers", body=accounts.CustomerCreateSchema,
          query=accounts.CreateOptionsSchema, response=accounts.CustomerSchema, status=201,
          creates=True),
    Route("GET", "/customers", "accounts", "list_customers", "List customers in scope",
          "customers", query=accounts.CustomerListQuerySchema,
          response=accounts.CustomerSchema, many=True),
    Route("POST", "/customers/import", "accounts", "import_customers",
          "Import customers (and a contact each) from CSV or XLSX (multipart field `file`); "
          "all or nothing, 400 with per-row `errors`", "customers", upload=True,
          query=accounts.CreateOptionsSchema, response=accounts.CustomerImportResultSchema,
          creates=True),
    Route("GET", "/customers/export", "accounts", "export_customers",
          "Your customers as CSV (UTF-8 with BOM) or XLSX", "customers",
          query=accounts.ExportQuerySchema, download=True),
    Route("GET", "/customers/duplicates", "accounts", "find_customer_duplicates",
          "Likely duplicates of a name, phone or tax id, with a score", "customers",
          query=accounts.DuplicateQuerySchema, response=accounts.DuplicateCandidateSchema,
          many=True),
    Route("GET", "/customers/{customer_id}", "accounts", "get_customer", "Get a customer",
          "customers", response=accounts.CustomerSchema),
    Route("PATCH", "/customers/{customer_id}", "accounts", "update_customer",
          "Change a customer", "customers", body=accounts.CustomerUpdateSchema,
          response=accounts.CustomerSchema),
    Route("POST", "/customers/{customer_id}/merge", "accounts", "merge_customers",
          "Merge another customer into this one", "customers", body=accounts.MergeSchema,
          response=accounts.CustomerSchema, creates=True),
    Route("POST", "/customers/{customer_id}/transfer", "accounts", "transfer_customer",
          "Give a customer to another owner (history kept)", "customers",
          body=accounts.TransferSchema, response=accounts.CustomerSchema, creates=True),
    Route("POST", "/customers/{customer_id}/contacts", "accounts", "add_contact",
          "Add a contact", "customers", body=accounts.ContactCreateSchema,
          response=accounts.ContactSchema, status=201, creates=True),
    Route("GET", "/customers/{customer_id}/contacts", "accounts", "list_contacts",
          "A customer's contacts", "customers", query=PageQuerySchema,
          response=accounts.ContactSchema, many=True),
    Route("GET", "/customers/{customer_id}/timeline", "accounts", "get_customer_timeline",
          "A customer's history, newest first", "customers",
          response=accounts.TimelineEntrySchema, many=True),
    Route("GET", "/field-permissions", "accounts", "list_field_permissions",
          "Field permissions (role, resource, field -> hidden, masked, read_only)", "admin",
          response=accounts.FieldPermissionsSchema),
    Route("PUT", "/field-permissions", "accounts", "set_field_permissions",
          "Change field permissions (admins; a null rule removes one)", "admin",
          body=accounts.FieldPermissionsSchema, response=accounts.FieldPermissionsSchema),
    Route("GET", "/audit", "accounts", "list_audit", "Who changed a record, when, how",
          "audit", query=audit_query_schema(AUDIT_OWNERS), response=AuditEntrySchema,
          many=True, service_by=("resource", AUDIT_OWNERS)),
    # channels: partners
    Route("POST", "/partners", "channels", "create_partner", "Create a channel partner",
          "channels", body=channels.PartnerCreateSchema, response=channels.PartnerSchema,
          status=201, creates=True),
    Route("GET", "/partners", "channels", "list_partners", "List partners in scope",
          "channels", query=channels.PartnerListQuerySchema, response=channels.PartnerSchema,
          many=True),
    Route("GET", "/partners/{partner_id}", "channels", "get_partner", "Get a partner",
          "channels", response=channels.PartnerSchema),
    Route("PATCH", "/partners/{partner_id}", "channels", "update_partner",
          "Change a partner (tier, owner and credit changes are kept as history)", "channels",
          body=channels.PartnerUpdateSchema, response=channels.PartnerSchema),
    Route("GET", "/partners/{partner_id}/history", "channels", "get_partner_history",
          "Tier, owner and credit changes of a partner, newest first", "channels",
          query=PageQuerySchema, response=channels.PartnerChangeSchema, many=True),
    # channels: stores
    Route("POST", "/stores", "channels", "create_store", "Create a store or service point",
          "stores", body=channels.StoreCreateSchema, response=channels.StoreSchema,
          status=201, creates=True),
    Route("GET", "/stores", "channels", "list_stores", "List stores in scope", "stores",
          query=channels.StoreListQuerySchema, response=channels.StoreSchema, many=True),
    Route("GET", "/stores/{store_id}", "channels", "get_store", "Get a store", "stores",
          response=channels.StoreSchema),
    Route("PATCH", "/stores/{store_id}", "channels", "update_store", "Change a store",
          "stores", body=channels.StoreUpdateSchema, response=channels.StoreSchema),
    Route("POST", "/stores/import", "channels", "import_stores",
          "Import stores from a CSV or XLSX file (multipart field `file`); all or nothing",
          "stores", response=channels.ImportJobSchema, status=202, creates=True,
          upload=True),
    Route("GET", "/imports/{import_id}", "channels", "get_import",
          "Progress and per-row errors of an import", "stores",
          response=channels.ImportJobSchema),
    # channels: inspection forms
    Route("POST", "/inspections", "channels", "create_inspection",
          "Create a partner's inspection form for a month", "inspections",
          body=channels.InspectionCreateSchema, response=channels.InspectionSchema,
          status=201, creates=True),
    Route("GET", "/inspections", "channels", "list_inspections",
          "Search inspection forms (partner name, owner, status, month, last update)",
          "inspections", query=channels.InspectionListQuerySchema,
          response=channels.InspectionSchema, many=True),
    Route("GET", "/inspections/{inspection_id}", "channels", "get_inspection",
          "Get an inspection form with its lines", "inspections",
          response=channels.InspectionDetailSchema),
    Route("PATCH", "/inspections/{inspection_id}", "channels", "update_inspection",
          "Change a draft inspection form", "inspections",
          body=channels.InspectionUpdateSchema, response=channels.InspectionSchema),
    Route("POST", "/inspections/{inspection_id}/lines", "channels", "add_inspection_line",
          "Add a detail line to a draft form", "inspections",
          body=channels.InspectionLineCreateSchema, response=channels.InspectionLineSchema,
          status=201, creates=True),
    Route("POST", "/inspections/{inspection_id}/submit", "channels", "submit_inspection",
          "Submit a draft form", "inspections", response=channels.InspectionSchema),
    Route("POST", "/inspections/{inspection_id}/review", "channels", "review_inspection",
          "Review a submitted form (someone above the submitter)", "inspections",
          body=channels.ReviewSchema, body_optional=True, response=channels.InspectionSchema),
    # channels: action plans
    Route("POST", "/action-plans", "channels", "create_action_plan",
          "Create a store or channel action plan for a period", "action plans",
          body=channels.ActionPlanCreateSchema, response=channels.ActionPlanSchema,
          status=201, creates=True),
    Route("GET", "/action-plans", "channels", "list_action_plans",
          "List action plans in scope or shared with you", "action plans",
          query=channels.ActionPlanListQuerySchema, response=channels.ActionPlanSchema,
          many=True),
    Route("GET", "/action-plans/{plan_id}", "channels", "get_action_plan",
          "Get an action plan with its entries", "action plans",
          response=channels.ActionPlanDetailSchema),
    Route("POST", "/action-plans/{plan_id}/entries", "channels", "add_action_plan_entry",
          "Add a decision, to-do, progress note or verification step", "action plans",
          body=channels.ActionPlanEntryCreateSchema, response=channels.ActionPlanEntrySchema,
          status=201, creates=True),
    Route("POST", "/action-plans/{plan_id}/collaborators", "channels",
          "add_action_plan_collaborator",
          "Add a collaborator (notifies them and the owner's manager)", "action plans",
          body=channels.CollaboratorSchema, response=channels.ActionPlanSchema),
    Route("GET", "/action-plans/{plan_id}/history", "channels", "get_action_plan_history",
          "The plans of the previous three periods of the same subject", "action plans",
          response=channels.ActionPlanDetailSchema, many=True),
    # notifications
    Route("GET", "/notifications", "notifications", "list_notifications",
          "Your inbox, newest first, with unread_count", "notifications",
          query=notifications.InboxQuerySchema, response=notifications.NotificationSchema,
          many=True),
    Route("POST", "/notifications/{notification_id}/read", "notifications",
          "mark_notification_read", "Mark a notice read", "notifications",
          response=notifications.NotificationSchema),
    Route("POST", "/notifications/read-all", "notifications", "mark_all_notifications_read",
          "Mark every notice read", "notifications", response=notifications.MarkedSchema),
    Route("POST", "/reminders", "notifications", "create_reminder",
          "Set a reminder (once, or repeating daily/weekly/monthly/yearly)", "notifications",
          body=notifications.ReminderCreateSchema, response=notifications.ReminderSchema,
          status=201, creates=True),
    Route("GET", "/reminders", "notifications", "list_reminders", "Your reminders",
          "notifications", query=notifications.ReminderListQuerySchema,
          response=notifications.ReminderSchema, many=True),
    Route("POST", "/reminders/{reminder_id}/done", "notifications", "finish_reminder",
          "Done: the reminder stops repeating", "notifications",
          response=notifications.ReminderSchema),
    # visits
    Route("POST", "/visit-types", "visits", "create_visit_type",
          "Define a visit type: custom detail fields and photo policy", "visits",
          body=visits.VisitTypeCreateSchema, response=visits.VisitTypeSchema, status=201,
          creates=True),
    Route("GET", "/visit-types", "visits", "list_visit_types", "List visit types", "visits",
          query=PageQuerySchema, response=visits.VisitTypeSchema, many=True),
    Route("POST", "/visits", "visits", "create_visit",
          "Plan a visit (yourself or a direct report)", "visits",
          body=visits.VisitCreateSchema, response=visits.VisitSchema, status=201,
          creates=True),
    Route("GET", "/visits", "visits", "list_visits", "List visits in scope", "visits",
          query=visits.VisitListQuerySchema, response=visits.VisitSchema, many=True),
    Route("GET", "/visits/{visit_id}", "visits", "get_visit",
          "Get a visit with its fraud signals", "visits", response=visits.VisitDetailSchema),
    Route("POST", "/visits/{visit_id}/check-in", "visits", "check_in",
          "Check in on site (distance to the store, radius, fraud signals)", "visits",
          body=visits.CheckInSchema, response=visits.CheckInResultSchema, creates=True),
    Route("POST", "/visits/{visit_id}/check-out", "visits", "check_out",
          "Check out with feedback, needs and the visit type's details", "visits",
          body=visits.CheckOutSchema, response=visits.VisitSchema, creates=True),
    Route("POST", "/visits/{visit_id}/photos", "visits", "create_photo_slot",
          "Ask for a photo upload slot (presigned PUT; the gateway never carries photos)",
          "visits", body=visits.PhotoSlotRequestSchema, response=visits.PhotoSlotSchema,
          status=201, creates=True),
    Route("POST", "/visits/{visit_id}/photos/{photo_id}/confirm", "visits", "confirm_photo",
          "Confirm an uploaded photo (checks size, type, sha256; reads EXIF)", "visits",
          response=visits.PhotoSchema),
    Route("GET", "/visits/{visit_id}/photos/{photo_id}", "visits", "get_photo",
          "A photo with a short-lived download URL", "visits", response=visits.PhotoSchema),
    Route("GET", "/users/{user_id}/trajectory", "visits", "get_trajectory",
          "A person's check-ins of a day, in order, with the legs between them", "visits",
          query=visits.TrajectoryQuerySchema, response=visits.TrajectorySchema),
    Route("PUT", "/visit-targets", "visits", "set_visit_target",
          "Set a direct report's monthly visit target (with adjustment)", "visits",
          body=visits.TargetSetSchema, response=visits.TargetSchema),
    Route("GET", "/visit-targets", "visits", "list_visit_targets",
          "Visit targets with progress", "visits", query=visits.TargetQuerySchema,
          response=visits.TargetSchema, many=True),
]

# Services whose health /readyz asks over the bus.
SERVICES = ("accounts", "channels", "visits", "service_tickets", "notifications", "reporting")
