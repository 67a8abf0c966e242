"""nameko entrypoints of the visits service."""
from sqlalchemy import text

from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc
from visits.storage import PhotoStorage


class VisitsService:
    name = "visits"

    db = Database()
    caller = CallerContext()
    photos = PhotoStorage()

    @rpc
    def health(self):
        self.db.session.execute(text("SELECT 1"))
        return {"service": self.name, "database": True, "object_store": self.photos.ready()}
