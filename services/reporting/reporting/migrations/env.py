from crmkit.directory import directory_metadata
from crmkit.migrations import run_env
from crmkit.tables import kit_metadata
from reporting.models import Base

run_env([Base.metadata, kit_metadata, directory_metadata])
