"""crmkit: the small shared kit every CRM service builds on.

It holds plumbing only (settings, database unit of work, outbox, caller context,
typed errors, validation, scope helpers); no entrypoints and no business rules.
"""
