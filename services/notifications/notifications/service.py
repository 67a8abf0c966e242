"""nameko entrypoints of the notifications service."""
from crmkit import directory
from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import event_handler, rpc
from crmkit.errors import NotAuthenticated
from crmkit.health import database_ready
from crmkit.validation import load
from notifications import inbox, notices, schemas


class NotificationsService(directory.DirectoryReadCopy):
    name = "notifications"

    db = Database()
    caller = CallerContext()

    def _login(self) -> None:
        if not self.caller.authenticated:
            raise NotAuthenticated("Log in first")

    @rpc
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- inbox --------------------------------------------------------------------------
    @rpc
    def list_notifications(self, query=None):
        self._login()
        return inbox.list_inbox(self.db, load(schemas.InboxQuerySchema(), query or {}))

    @rpc
    def mark_notification_read(self, notification_id):
        self._login()
        return inbox.mark_read(self.db, notification_id)

    @rpc
    def mark_all_notifications_read(self):
        self._login()
        return inbox.mark_all_read(self.db)

    # --- events that become notices -----------------------------------------------------
    @event_handler("channels", "collaborator_added")
    def on_collaborator_added(self, event):
        notices.collaborator_added(self.db, self.people(), event)

    @event_handler("channels", "inspection_submitted")
    def on_inspection_submitted(self, event):
        notices.inspection_submitted(self.db, self.people(), event)

    @event_handler("channels", "inspection_reviewed")
    def on_inspection_reviewed(self, event):
        notices.inspection_reviewed(self.db, self.people(), event)

    @event_handler("visits", "visit_planned")
    def on_visit_planned(self, event):
        notices.visit_planned(self.db, self.people(), event)

    @event_handler("visits", "fraud_signal_raised")
    def on_fraud_signal_raised(self, event):
        notices.fraud_signal_raised(self.db, self.people(), event)

    @event_handler("accounts", "customer_transferred")
    def on_customer_transferred(self, event):
        notices.customer_transferred(self.db, self.people(), event)
