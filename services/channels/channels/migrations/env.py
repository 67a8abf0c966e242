from channels.models import Base
from crmkit.directory import directory_metadata
from crmkit.field_rules import field_rules_metadata
from crmkit.migrations import run_env
from crmkit.tables import kit_metadata

run_env([Base.metadata, kit_metadata, directory_metadata, field_rules_metadata])
