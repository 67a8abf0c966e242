"""nameko entrypoints of the service_tickets service."""
from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc
from crmkit.health import database_ready


class ServiceTicketsService:
    name = "service_tickets"

    db = Database()
    caller = CallerContext()

    @rpc
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}
