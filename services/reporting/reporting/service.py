"""nameko entrypoints of the reporting service."""
from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc
from crmkit.health import database_ready


class ReportingService:
    name = "reporting"

    db = Database()
    caller = CallerContext()

    @rpc
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}
