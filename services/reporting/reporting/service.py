"""nameko entrypoints of the reporting service: reports and submissions over RPC, and the
consumers that feed the read models (each event archived and applied once, in the same
transaction). Inspection lines, the bulk of the events, are taken in batches: up to
`CRM_EVENT_BATCH_MAX` queued lines archived and added in one transaction."""
from crmkit import directory
from crmkit.context import CallerContext, require_login
from crmkit.database import Database
from crmkit.entrypoints import batch_event_handler, event_handler, rpc
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.validation import load
from reporting import org_units, reports, schemas, submissions
from reporting.projections import feed, feed_many


class ReportingService(directory.DirectoryReadCopy):
    name = "reporting"

    db = Database()
    caller = CallerContext()

    def _login(self) -> directory.UserDirectory:
        require_login(self.caller)
        return self.people()

    def _feed(self, source: str, event: dict) -> None:
        feed(self.db.session, source, event)

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- reports ------------------------------------------------------------------------
    @rpc
    def channel_report(self, query=None):
        self._login()
        return reports.report_file(self.db, "channels",
                                   load(schemas.ChannelReportQuerySchema(), query or {}))

    @rpc
    def visit_report(self, query=None):
        self._login()
        return reports.report_file(self.db, "visits",
                                   load(schemas.MonthReportQuerySchema(), query or {}))

    @rpc
    def ticket_report(self, query=None):
        self._login()
        return reports.report_file(self.db, "tickets",
                                   load(schemas.MonthReportQuerySchema(), query or {}))

    # --- reports sent up the hierarchy --------------------------------------------------
    @rpc
    @idempotent("submit_report")
    def submit_report(self, data):
        people = self._login()
        return submissions.submit(self.db, people, load(schemas.SubmissionCreateSchema(), data))

    @rpc(read_only=True)
    def list_report_submissions(self, query=None):
        people = self._login()
        return submissions.list_submissions(
            self.db, people, load(schemas.SubmissionListQuerySchema(), query or {}))

    @rpc(read_only=True)
    def get_report_submission(self, submission_id):
        people = self._login()
        return submissions.get_submission(self.db, people, submission_id)

    @rpc
    @idempotent("comment_on_report")
    def comment_on_report(self, submission_id, data):
        people = self._login()
        return submissions.comment(self.db, people, submission_id,
                                   load(schemas.CommentCreateSchema(), data))

    # --- org unit names (the directory copy's handlers come from the mixin) -------------
    @event_handler("accounts", "org_unit_created")
    def on_org_unit_created(self, event):
        org_units.apply_org_unit(self.db.session, event)

    @event_handler("accounts", "org_unit_updated")
    def on_org_unit_updated(self, event):
        org_units.apply_org_unit(self.db.session, event)

    @event_handler("accounts", "org_unit_moved")
    def on_org_unit_moved(self, event):
        directory.apply_org_unit_moved(self.db, event)
        org_units.apply_moved(self.db.session, event)

    # --- channels -----------------------------------------------------------------------
    @event_handler("channels", "partner_created")
    def on_partner_created(self, event):
        self._feed("channels", event)

    @event_handler("channels", "partner_updated")
    def on_partner_updated(self, event):
        self._feed("channels", event)

    @event_handler("channels", "store_created")
    def on_store_created(self, event):
        self._feed("channels", event)

    @event_handler("channels", "store_updated")
    def on_store_updated(self, event):
        self._feed("channels", event)

    @event_handler("channels", "stores_imported")
    def on_stores_imported(self, event):
        self._feed("channels", event)

    @event_handler("channels", "inspection_created")
    def on_inspection_created(self, event):
        self._feed("channels", event)

    @event_handler("channels", "inspection_updated")
    def on_inspection_updated(self, event):
        self._feed("channels", event)

    # (The method's name is the handler's key in `processed_events` and its queue's name.)
    @batch_event_handler("channels", "inspection_line_added")
    def on_inspection_line_added(self, events):
        feed_many(self.db.session, "channels", events)

    @event_handler("channels", "inspection_submitted")
    def on_inspection_submitted(self, event):
        self._feed("channels", event)

    @event_handler("channels", "inspection_reviewed")
    def on_inspection_reviewed(self, event):
        self._feed("channels", event)

    # --- visits -------------------------------------------------------------------------
    @event_handler("visits", "visit_planned")
    def on_visit_planned(self, event):
        self._feed("visits", event)

    @event_handler("visits", "visit_checked_in")
    def on_visit_checked_in(self, event):
        self._feed("visits", event)

    @event_handler("visits", "visit_completed")
    def on_visit_completed(self, event):
        self._feed("visits", event)

    @event_handler("visits", "fraud_signal_raised")
    def on_fraud_signal_raised(self, event):
        self._feed("visits", event)

    @event_handler("visits", "visit_target_set")
    def on_visit_target_set(self, event):
        self._feed("visits", event)

    # --- after-sales --------------------------------------------------------------------
    @event_handler("service_tickets", "ticket_opened")
    def on_ticket_opened(self, event):
        self._feed("service_tickets", event)

    @event_handler("service_tickets", "ticket_status_changed")
    def on_ticket_status_changed(self, event):
        self._feed("service_tickets", event)

    @event_handler("service_tickets", "ticket_sla_breached")
    def on_ticket_sla_breached(self, event):
        self._feed("service_tickets", event)

    @event_handler("service_tickets", "ticket_parts_used")
    def on_ticket_parts_used(self, event):
        self._feed("service_tickets", event)

    @event_handler("service_tickets", "parts_order_status_changed")
    def on_parts_order_status_changed(self, event):
        self._feed("service_tickets", event)

    @event_handler("service_tickets", "survey_answered")
    def on_survey_answered(self, event):
        self._feed("service_tickets", event)
