"""accounts: organisation tree, users, roles, credentials and the audit of its records."""
