"""Admins' wording of notice kinds, stored and read back for rendering."""
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Forbidden, ValidationFailed
from notifications.models import TemplateOverride
from notifications.templates import TEMPLATES, wording_problems


def overrides(unit: UnitOfWork, kind: str) -> dict[str, tuple[str, str]]:
    """{locale: (title, body)} of `kind`, once per unit of work."""
    def load():
        return {row.locale: (row.title, row.body) for row in unit.session.execute(
            select(TemplateOverride).where(TemplateOverride.kind == kind)).scalars()}
    return unit.memo(f"wording:{kind}", load)


def list_templates(unit: UnitOfWork) -> dict:
    stored = {(r.kind, r.locale): r for r in unit.session.execute(
        select(TemplateOverride)).scalars()}
    items = []
    for kind, by_locale in TEMPLATES.items():
        for locale, (title, body) in by_locale.items():
            override = stored.get((kind, locale))
            items.append({"kind": kind, "locale": locale,
                          "title": override.title if override else title,
                          "body": override.body if override else body,
                          "customised": override is not None})
    return {"items": items, "next_cursor": None}


def set_template(unit: UnitOfWork, kind: str, data: dict) -> dict:
    if not unit.caller.is_admin:
        raise Forbidden("Only admins change message templates")
    if kind not in TEMPLATES:
        raise ValidationFailed("No such notice kind", {"kind": ["unknown kind"]})
    problems = wording_problems(kind, data["title"], data["body"])
    if problems:
        raise ValidationFailed("The template uses variables this kind does not have",
                               problems)
    values = {"kind": kind, "locale": data["locale"], "title": data["title"],
              "body": data["body"], "updated_by": unit.caller.user_id,
              "updated_at": utcnow()}
    stmt = pg_insert(TemplateOverride).values(**values)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=["kind", "locale"],
        set_={k: stmt.excluded[k] for k in ("title", "body", "updated_by", "updated_at")}))
    unit.forget(f"wording:{kind}")
    unit.audit("update", "notification_template", f"{kind}:{data['locale']}", None, values)
    return {"kind": kind, "locale": data["locale"], "title": data["title"],
            "body": data["body"], "customised": True}
