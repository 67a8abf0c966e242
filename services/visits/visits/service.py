"""nameko entrypoints of the visits service."""
from crmkit.context import CallerContext
from crmkit.database import Database
from crmkit.entrypoints import rpc
from crmkit.health import database_ready
from visits.storage import PhotoStorage


class VisitsService:
    name = "visits"

    db = Database()
    caller = CallerContext()
    photos = PhotoStorage()

    @rpc
    def health(self):
        return {"service": self.name, "database": database_ready(self.db),
                "object_store": self.photos.ready()}
