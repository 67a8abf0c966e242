"""nameko entrypoints of the service_tickets service."""
from sqlalchemy import text

from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc


class ServiceTicketsService:
    name = "service_tickets"

    db = Database()
    caller = CallerContext()

    @rpc
    def health(self):
        self.db.session.execute(text("SELECT 1"))
        return {"service": self.name, "database": True}
