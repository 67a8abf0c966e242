"""nameko entrypoints of the channels service: validate, call one use case, return a dict."""
from channels import (
    action_plans,
    audit,
    inspections,
    ownership,
    partners,
    schemas,
    store_import,
    stores,
)
from crmkit import directory
from crmkit.context import Caller, CallerContext, require_login
from crmkit.database import Database
from crmkit.entrypoints import event_handler, rpc
from crmkit.field_rules import FieldRulesReadCopy
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.pagination import PageQuerySchema
from crmkit.settings import bus_settings
from crmkit.validation import load


class ChannelsService(directory.DirectoryReadCopy, FieldRulesReadCopy):
    name = "channels"

    db = Database()
    caller = CallerContext()

    def _login(self) -> directory.UserDirectory:
        require_login(self.caller)
        return self.people()

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- partners -----------------------------------------------------------------------
    @rpc
    @idempotent("create_partner")
    def create_partner(self, data):
        people = self._login()
        return partners.create_partner(self.db, people, self.field_rules(),
                                       load(schemas.PartnerCreateSchema(), data))

    @rpc(read_only=True)
    def get_partner(self, partner_id):
        self._login()
        return partners.get_partner(self.db, self.field_rules(), partner_id)

    @rpc(read_only=True)
    def list_partners(self, query=None):
        self._login()
        return partners.list_partners(self.db, self.field_rules(),
                                      load(schemas.PartnerListQuerySchema(), query or {}))

    @rpc
    def update_partner(self, partner_id, data):
        people = self._login()
        return partners.update_partner(self.db, people, self.field_rules(), partner_id,
                                       load(schemas.PartnerUpdateSchema(), data))

    @rpc(read_only=True)
    def get_partner_history(self, partner_id, query=None):
        self._login()
        return partners.partner_history(self.db, self.field_rules(), partner_id,
                                        load(PageQuerySchema(), query or {}))

    # --- stores -------------------------------------------------------------------------
    @rpc
    @idempotent("create_store")
    def create_store(self, data):
        people = self._login()
        return stores.create_store(self.db, people, load(schemas.StoreCreateSchema(), data))

    @rpc(read_only=True)
    def get_store(self, store_id):
        self._login()
        return stores.get_store(self.db, store_id)

    @rpc(read_only=True)
    def list_stores(self, query=None):
        self._login()
        return stores.list_stores(self.db, load(schemas.StoreListQuerySchema(), query or {}))

    @rpc
    def update_store(self, store_id, data):
        people = self._login()
        return stores.update_store(self.db, people, store_id,
                                   load(schemas.StoreUpdateSchema(), data))

    @rpc(sensitive_arguments=("data.content_base64",))
    @idempotent("import_stores")
    def import_stores(self, data):
        self._login()
        return store_import.start_store_import(self.db,
                                               load(schemas.ImportRequestSchema(), data))

    @rpc(read_only=True)
    def get_import(self, import_id):
        people = self._login()
        return store_import.get_import(self.db, people, import_id)

    @event_handler("channels", "store_import_queued")
    def run_store_import(self, event):
        # The job runs with the uploader's scope, recorded in the event.
        self.db.act_as(Caller.from_actor(event["actor"]))
        store_import.run_store_import(self.db, self.people(), event["data"]["import_id"],
                                      bus_settings().event_max_attempts)

    # --- inspection forms ---------------------------------------------------------------
    @rpc
    @idempotent("create_inspection")
    def create_inspection(self, data):
        people = self._login()
        return inspections.create_inspection(self.db, people,
                                             load(schemas.InspectionCreateSchema(), data))

    @rpc(read_only=True)
    def get_inspection(self, inspection_id):
        self._login()
        return inspections.get_inspection(self.db, inspection_id)

    @rpc(read_only=True)
    def list_inspections(self, query=None):
        self._login()
        return inspections.list_inspections(
            self.db, load(schemas.InspectionListQuerySchema(), query or {}))

    @rpc
    def update_inspection(self, inspection_id, data):
        people = self._login()
        return inspections.update_inspection(self.db, people, inspection_id,
                                             load(schemas.InspectionUpdateSchema(), data))

    @rpc
    @idempotent("add_inspection_line")
    def add_inspection_line(self, inspection_id, data):
        self._login()
        return inspections.add_line(self.db, inspection_id,
                                    load(schemas.InspectionLineCreateSchema(), data))

    @rpc
    def submit_inspection(self, inspection_id, data=None):
        self._login()
        return inspections.submit_inspection(self.db, inspection_id)

    @rpc
    def review_inspection(self, inspection_id, data=None):
        people = self._login()
        return inspections.review_inspection(self.db, people, inspection_id,
                                             load(schemas.ReviewSchema(), data or {}))

    # --- action plans -------------------------------------------------------------------
    @rpc
    @idempotent("create_action_plan")
    def create_action_plan(self, data):
        people = self._login()
        return action_plans.create_plan(self.db, people,
                                        load(schemas.ActionPlanCreateSchema(), data))

    @rpc(read_only=True)
    def get_action_plan(self, plan_id):
        self._login()
        return action_plans.get_plan(self.db, plan_id)

    @rpc(read_only=True)
    def list_action_plans(self, query=None):
        self._login()
        return action_plans.list_plans(self.db,
                                       load(schemas.ActionPlanListQuerySchema(), query or {}))

    @rpc
    @idempotent("add_action_plan_entry")
    def add_action_plan_entry(self, plan_id, data):
        self._login()
        return action_plans.add_entry(self.db, plan_id,
                                      load(schemas.ActionPlanEntryCreateSchema(), data))

    @rpc
    def add_action_plan_collaborator(self, plan_id, data):
        people = self._login()
        return action_plans.add_collaborator(self.db, people, plan_id,
                                             load(schemas.CollaboratorSchema(), data))

    @rpc(read_only=True)
    def get_action_plan_history(self, plan_id):
        self._login()
        return action_plans.plan_history(self.db, plan_id)

    @rpc(read_only=True)
    def list_audit(self, query=None):
        self._login()
        return audit.list_audit(self.db, self.field_rules(),
                               load(schemas.AuditQuerySchema(), query or {}))

    # --- accounts' commands (the directory read copy comes with DirectoryReadCopy) ---
    @event_handler("accounts", "user_records_reassigned")
    def on_user_records_reassigned(self, event):
        self.db.act_as(Caller.from_actor(event["actor"]))
        ownership.reassign_records(self.db, event["data"]["from_user_id"],
                                   event["data"]["to_user_id"])
