"""Alembic per service database: create the database if missing, upgrade to head.
A service's `migrations/env.py` calls `run_env(metadata)`."""
from alembic import command, context
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

from crmkit.settings import database_name, database_settings, postgres_server_url


def ensure_database(service: str) -> None:
    name = database_name(service)
    engine = create_engine(f"{postgres_server_url()}/postgres", isolation_level="AUTOCOMMIT",
                           poolclass=pool.NullPool)
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).scalar()
        if not exists:
            # Identifiers cannot be bound parameters: the name is ours (prefix + service),
            # quoted by the dialect.
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"CREATE DATABASE {quoted}"))  # sql: identifiers only
    engine.dispose()


def alembic_config(service: str, package: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", database_settings(service).url.replace("%", "%%"))
    return cfg


def upgrade(service: str, package: str | None = None, revision: str = "head") -> None:
    ensure_database(service)
    command.upgrade(alembic_config(service, package or service), revision)


def run_env(target_metadata) -> None:
    """Body of every service's migrations/env.py (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
