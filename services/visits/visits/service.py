"""nameko entrypoints of the visits service: validate, call one use case, return a dict."""
from crmkit import directory
from crmkit.context import Caller, CallerContext, require_login
from crmkit.database import Database
from crmkit.entrypoints import event_handler, rpc, timer
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.pagination import PageQuerySchema
from crmkit.validation import load
from visits import (
    customer_copies,
    photos,
    schemas,
    store_copies,
    targets,
    trajectory,
    visit_types,
    visits,
)
from visits.settings import load as load_settings
from visits.storage import PhotoStorage

settings = load_settings()


class VisitsService(directory.DirectoryReadCopy):
    name = "visits"

    db = Database()
    caller = CallerContext()
    photos = PhotoStorage()

    def _login(self) -> directory.UserDirectory:
        require_login(self.caller)
        return self.people()

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db),
                "object_store": self.photos.ready()}

    # --- visit types --------------------------------------------------------------------
    @rpc
    @idempotent("create_visit_type")
    def create_visit_type(self, data):
        self._login()
        return visit_types.create_visit_type(self.db,
                                             load(schemas.VisitTypeCreateSchema(), data))

    @rpc(read_only=True)
    def list_visit_types(self, query=None):
        self._login()
        return visit_types.list_visit_types(self.db, load(PageQuerySchema(), query or {}))

    # --- visits -------------------------------------------------------------------------
    @rpc
    @idempotent("create_visit")
    def create_visit(self, data):
        people = self._login()
        return visits.create_visit(self.db, people, load(schemas.VisitCreateSchema(), data))

    @rpc(read_only=True)
    def get_visit(self, visit_id):
        self._login()
        return visits.get_visit(self.db, visit_id)

    @rpc(read_only=True)
    def list_visits(self, query=None):
        self._login()
        return visits.list_visits(self.db, load(schemas.VisitListQuerySchema(), query or {}))

    @rpc
    @idempotent("check_in")
    def check_in(self, visit_id, data):
        self._login()
        return visits.check_in(self.db, settings, visit_id, load(schemas.CheckInSchema(), data))

    @rpc
    @idempotent("check_out")
    def check_out(self, visit_id, data):
        self._login()
        return visits.check_out(self.db, visit_id, load(schemas.CheckOutSchema(), data))

    # --- photos -------------------------------------------------------------------------
    @rpc
    @idempotent("create_photo_slot")
    def create_photo_slot(self, visit_id, data):
        self._login()
        return photos.create_slot(self.db, self.photos, settings, visit_id,
                                  load(schemas.PhotoSlotRequestSchema(), data))

    @rpc
    def confirm_photo(self, visit_id, photo_id):
        self._login()
        return photos.confirm(self.db, self.photos, settings, visit_id, photo_id)

    @rpc(read_only=True)
    def get_photo(self, visit_id, photo_id):
        self._login()
        return photos.get_photo(self.db, self.photos, settings, visit_id, photo_id)

    @timer(interval=60)
    def sweep_unconfirmed_photos(self):
        photos.sweep_expired(self.db, self.photos)

    @rpc(read_only=True)
    def get_trajectory(self, user_id, query=None):
        people = self._login()
        return trajectory.trajectory(self.db, people, user_id,
                                     load(schemas.TrajectoryQuerySchema(), query or {}))

    # --- targets ------------------------------------------------------------------------
    @rpc
    def set_visit_target(self, data):
        people = self._login()
        return targets.set_target(self.db, people, load(schemas.TargetSetSchema(), data))

    @rpc(read_only=True)
    def list_visit_targets(self, query=None):
        self._login()
        return targets.list_targets(self.db, load(schemas.TargetQuerySchema(), query or {}))

    # --- read copies --------------------------------------------------------------------
    @event_handler("channels", "store_created")
    def on_store_created(self, event):
        store_copies.apply_event(self.db, event)

    @event_handler("channels", "store_updated")
    def on_store_updated(self, event):
        store_copies.apply_event(self.db, event)

    @event_handler("channels", "stores_imported")
    def on_stores_imported(self, event):
        store_copies.apply_event(self.db, event)

    @event_handler("accounts", "customer_created")
    def on_customer_created(self, event):
        customer_copies.apply_customer(self.db, event)

    @event_handler("accounts", "customer_updated")
    def on_customer_updated(self, event):
        customer_copies.apply_customer(self.db, event)

    @event_handler("accounts", "customer_transferred")
    def on_customer_transferred(self, event):
        customer_copies.apply_transfer(self.db, event)

    @event_handler("accounts", "customer_merged")
    def on_customer_merged(self, event):
        customer_copies.apply_merge(self.db, event)

    @rpc(read_only=True)
    def list_customer_visits(self, customer_id, query=None):
        """For accounts' customer timeline: the caller's visible visits of a customer."""
        self._login()
        return visits.list_visits(self.db, load(schemas.VisitListQuerySchema(),
                                                dict(query or {}, customer_id=customer_id)))

    @event_handler("accounts", "user_records_reassigned")
    def on_user_records_reassigned(self, event):
        self.db.act_as(Caller.from_actor(event["actor"]))
        visits.reassign_planned(self.db, event["data"]["from_user_id"],
                                event["data"]["to_user_id"])
