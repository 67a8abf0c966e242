"""nameko entrypoints of the notifications service."""
from crmkit import directory
from crmkit.context import CallerContext, require_login
from crmkit.database import Database, utcnow
from crmkit.entrypoints import event_handler, rpc, timer
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.pagination import PageQuerySchema
from crmkit.validation import load
from notifications import (
    deliveries,
    inbox,
    notices,
    preferences,
    schedules,
    schemas,
    template_overrides,
    webhooks,
)
from notifications.outbound import configured_senders
from notifications.settings import load as load_settings

settings = load_settings()


class NotificationsService(directory.DirectoryReadCopy):
    name = "notifications"

    db = Database()
    caller = CallerContext()

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- inbox --------------------------------------------------------------------------
    @rpc(read_only=True)
    def list_notifications(self, query=None):
        require_login(self.caller)
        return inbox.list_inbox(self.db, load(schemas.InboxQuerySchema(), query or {}))

    @rpc
    def mark_notification_read(self, notification_id):
        require_login(self.caller)
        return inbox.mark_read(self.db, notification_id)

    @rpc
    def mark_all_notifications_read(self):
        require_login(self.caller)
        return inbox.mark_all_read(self.db)

    # --- reminders and schedules --------------------------------------------------------
    @rpc
    @idempotent("create_reminder")
    def create_reminder(self, data):
        require_login(self.caller)
        return schedules.create_reminder(self.db, load(schemas.ReminderCreateSchema(), data))

    @rpc(read_only=True)
    def list_reminders(self, query=None):
        require_login(self.caller)
        return schedules.list_reminders(self.db,
                                        load(schemas.ReminderListQuerySchema(), query or {}))

    @rpc
    def finish_reminder(self, reminder_id):
        require_login(self.caller)
        return schedules.finish_reminder(self.db, reminder_id)

    @timer(interval=settings.tick_s)
    def fire_schedules(self):
        now = utcnow()
        schedules.fire_due_reminders(self.db, self.people(), now)
        schedules.push_open_inspections(self.db, self.people(), settings, now)

    @timer(interval=settings.tick_s)
    def send_deliveries(self):
        deliveries.send_due(self.db, configured_senders(), settings.outbound)

    # --- outbound channels ------------------------------------------------------------------
    @rpc(read_only=True)
    def get_notification_preferences(self):
        require_login(self.caller)
        return preferences.get_preferences(self.db)

    @rpc
    def set_notification_preferences(self, data):
        require_login(self.caller)
        return preferences.set_preferences(self.db, load(schemas.PreferencesSchema(), data))

    @rpc(sensitive_arguments=("data.secret",))
    @idempotent("create_webhook")
    def create_webhook(self, data):
        require_login(self.caller)
        return webhooks.create_webhook(self.db, load(schemas.WebhookCreateSchema(), data))

    @rpc(read_only=True)
    def list_webhooks(self, query=None):
        require_login(self.caller)
        return webhooks.list_webhooks(self.db, load(PageQuerySchema(), query or {}))

    @rpc(sensitive_arguments=("data.secret",))
    def update_webhook(self, webhook_id, data):
        require_login(self.caller)
        return webhooks.update_webhook(self.db, webhook_id,
                                       load(schemas.WebhookUpdateSchema(), data))

    @rpc(read_only=True)
    def list_deliveries(self, query=None):
        require_login(self.caller)
        return deliveries.list_deliveries(self.db, load(schemas.DeliveryQuerySchema(),
                                                        query or {}))

    @rpc(read_only=True)
    def list_notification_templates(self):
        require_login(self.caller)
        return template_overrides.list_templates(self.db)

    @rpc
    def set_notification_template(self, kind, data):
        require_login(self.caller)
        return template_overrides.set_template(self.db, kind,
                                               load(schemas.TemplateSetSchema(), data))

    @event_handler("channels", "inspection_created")
    def on_inspection_created(self, event):
        schedules.apply_inspection(self.db, event)

    @event_handler("channels", "inspection_updated")
    def on_inspection_updated(self, event):
        schedules.apply_inspection(self.db, event)

    # --- events that become notices -----------------------------------------------------
    @event_handler("channels", "collaborator_added")
    def on_collaborator_added(self, event):
        notices.collaborator_added(self.db, self.people(), event)

    @event_handler("channels", "inspection_submitted")
    def on_inspection_submitted(self, event):
        schedules.apply_inspection(self.db, event)
        notices.inspection_submitted(self.db, self.people(), event)

    @event_handler("channels", "inspection_reviewed")
    def on_inspection_reviewed(self, event):
        schedules.apply_inspection(self.db, event)
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

    @event_handler("reporting", "report_submitted")
    def on_report_submitted(self, event):
        notices.report_submitted(self.db, self.people(), event)

    @event_handler("reporting", "report_commented")
    def on_report_commented(self, event):
        notices.report_commented(self.db, self.people(), event)

    @event_handler("service_tickets", "ticket_status_changed")
    def on_ticket_status_changed(self, event):
        notices.ticket_dispatched(self.db, self.people(), event)

    @event_handler("service_tickets", "ticket_sla_warning")
    def on_ticket_sla_warning(self, event):
        notices.ticket_sla_warning(self.db, self.people(), event)

    @event_handler("service_tickets", "ticket_sla_breached")
    def on_ticket_sla_breached(self, event):
        notices.ticket_sla_breached(self.db, self.people(), event)

    @event_handler("service_tickets", "parts_order_status_changed")
    def on_parts_order_status_changed(self, event):
        notices.parts_order_status_changed(self.db, self.people(), event)
