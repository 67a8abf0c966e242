"""nameko entrypoints of the accounts service: validate, call one handler, return a dict."""
from accounts import customers, field_permissions, handlers, schemas
from accounts.settings import load as load_settings
from crmkit.context import CallerContext, require_login
from crmkit.database import Database
from crmkit.entrypoints import rpc
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.pagination import PageQuerySchema
from crmkit.rpc_client import TimedRpcProxy
from crmkit.validation import load

settings = load_settings()


class AccountsService:
    name = "accounts"

    db = Database()
    caller = CallerContext()
    visits = TimedRpcProxy("visits", timeout=3)

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- authentication -----------------------------------------------------------------
    @rpc(sensitive_arguments=("data.password",))
    def issue_token(self, data):
        return handlers.issue_token(self.db, settings, load(schemas.TokenRequestSchema(), data))

    @rpc(sensitive_arguments=("data.refresh_token",))
    def refresh_token(self, data):
        return handlers.refresh_token(self.db, settings,
                                      load(schemas.RefreshRequestSchema(), data))

    @rpc(sensitive_arguments=("data.refresh_token",))
    def logout(self, data=None):
        require_login(self.caller)
        return handlers.logout(self.db, load(schemas.LogoutRequestSchema(), data or {}))

    @rpc(read_only=True)
    def list_revocations(self):
        return handlers.list_revocations(self.db, settings)

    @rpc(read_only=True)
    def get_me(self):
        require_login(self.caller)
        return handlers.get_me(self.db)

    # --- org units ----------------------------------------------------------------------
    @rpc
    @idempotent("create_org_unit")
    def create_org_unit(self, data):
        require_login(self.caller)
        return handlers.create_org_unit(self.db, load(schemas.OrgUnitCreateSchema(), data))

    @rpc(read_only=True)
    def get_org_unit(self, org_unit_id):
        require_login(self.caller)
        return handlers.get_org_unit(self.db, org_unit_id)

    @rpc(read_only=True)
    def list_org_units(self, query=None):
        require_login(self.caller)
        return handlers.list_org_units(self.db,
                                       load(schemas.OrgUnitListQuerySchema(), query or {}))

    @rpc
    def update_org_unit(self, org_unit_id, data):
        require_login(self.caller)
        return handlers.update_org_unit(self.db, org_unit_id,
                                        load(schemas.OrgUnitUpdateSchema(), data))

    # --- users --------------------------------------------------------------------------
    @rpc(sensitive_arguments=("data.password",))
    @idempotent("create_user")
    def create_user(self, data):
        require_login(self.caller)
        return handlers.create_user(self.db, load(schemas.UserCreateSchema(), data))

    @rpc(read_only=True)
    def get_user(self, user_id):
        require_login(self.caller)
        return handlers.get_user(self.db, user_id)

    @rpc(read_only=True)
    def list_users(self, query=None):
        require_login(self.caller)
        return handlers.list_users(self.db, load(schemas.UserListQuerySchema(), query or {}))

    @rpc(sensitive_arguments=("data.password", "data.current_password"))
    def update_user(self, user_id, data):
        require_login(self.caller)
        return handlers.update_user(self.db, user_id, load(schemas.UserUpdateSchema(), data))

    @rpc
    @idempotent("reassign_user_records")
    def reassign_user_records(self, user_id, data):
        require_login(self.caller)
        return handlers.reassign_user_records(self.db, user_id,
                                              load(schemas.ReassignSchema(), data))

    @rpc(read_only=True)
    def get_directory_entries(self, data):
        """Service-to-service only (other services' directory read copies)."""
        return handlers.get_directory_entries(self.db,
                                              load(schemas.DirectoryRequestSchema(), data))

    # --- customers ----------------------------------------------------------------------
    @rpc
    @idempotent("create_customer")
    def create_customer(self, data, query=None):
        require_login(self.caller)
        return customers.create_customer(self.db, settings,
                                         load(schemas.CustomerCreateSchema(), data),
                                         load(schemas.CreateOptionsSchema(), query or {}))

    @rpc(read_only=True)
    def get_customer(self, customer_id):
        require_login(self.caller)
        return customers.get_customer(self.db, customer_id)

    @rpc(read_only=True)
    def list_customers(self, query=None):
        require_login(self.caller)
        return customers.list_customers(self.db,
                                        load(schemas.CustomerListQuerySchema(), query or {}))

    @rpc
    def update_customer(self, customer_id, data):
        require_login(self.caller)
        return customers.update_customer(self.db, customer_id,
                                         load(schemas.CustomerUpdateSchema(), data))

    @rpc  # not read-only: its similarity threshold is a transaction-local setting
    def find_customer_duplicates(self, query=None):
        require_login(self.caller)
        return customers.duplicates(self.db, load(schemas.DuplicateQuerySchema(), query or {}))

    @rpc
    @idempotent("merge_customers")
    def merge_customers(self, customer_id, data):
        require_login(self.caller)
        return customers.merge_customers(self.db, customer_id,
                                         load(schemas.MergeSchema(), data))

    @rpc
    @idempotent("transfer_customer")
    def transfer_customer(self, customer_id, data):
        require_login(self.caller)
        return customers.transfer_customer(self.db, customer_id,
                                           load(schemas.TransferSchema(), data))

    @rpc
    @idempotent("add_contact")
    def add_contact(self, customer_id, data):
        require_login(self.caller)
        return customers.add_contact(self.db, customer_id,
                                     load(schemas.ContactCreateSchema(), data))

    @rpc(read_only=True)
    def list_contacts(self, customer_id, query=None):
        require_login(self.caller)
        return customers.list_contacts(self.db, customer_id,
                                       load(PageQuerySchema(), query or {}))

    @rpc(read_only=True)
    def get_customer_timeline(self, customer_id):
        require_login(self.caller)
        return customers.timeline(
            self.db, customer_id,
            lambda cid: self.visits.list_customer_visits(customer_id=cid,
                                                         query={"limit": "500"})["items"])

    @rpc(sensitive_arguments=("data.content_base64",))
    @idempotent("import_customers")
    def import_customers(self, data, query=None):
        require_login(self.caller)
        return customers.import_customers(self.db, settings,
                                          load(schemas.CustomerImportSchema(), data),
                                          load(schemas.CreateOptionsSchema(), query or {}))

    @rpc
    def export_customers(self, query=None):
        require_login(self.caller)
        return customers.export_customers(self.db,
                                          load(schemas.ExportQuerySchema(), query or {}))

    # --- field permissions --------------------------------------------------------------
    @rpc(read_only=True)
    def list_field_permissions(self):
        require_login(self.caller)
        return field_permissions.list_rules(self.db)

    @rpc
    def set_field_permissions(self, data):
        require_login(self.caller)
        return field_permissions.set_rules(self.db,
                                           load(schemas.FieldPermissionsSchema(), data))

    # --- audit --------------------------------------------------------------------------
    @rpc(read_only=True)
    def list_audit(self, query=None):
        require_login(self.caller)
        return handlers.list_audit(self.db, load(schemas.AuditQuerySchema(), query or {}))
