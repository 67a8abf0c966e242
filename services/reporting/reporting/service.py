"""nameko entrypoints of the reporting service."""
from sqlalchemy import text

from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc


class ReportingService:
    name = "reporting"

    db = Database()
    caller = CallerContext()

    @rpc
    def health(self):
        self.db.session.execute(text("SELECT 1"))
        return {"service": self.name, "database": True}
