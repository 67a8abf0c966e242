"""Helpers the benches share: checked HTTP answers, logging in, a plain psycopg2
connection to a service's database (the benches' raw-SQL baselines and seeding), waiting
for a count to be reached."""
import time

import httpx


def expect(reply: httpx.Response, status: int) -> dict:
    if reply.status_code != status:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: "
                           f"HTTP {reply.status_code} {reply.text[:300]}")
    return reply.json()


def login(api: httpx.Client, username: str, password: str) -> dict:
    token = expect(api.post("/auth/token", json={"username": username,
                                                  "password": password}), 200)
    return {"Authorization": f"Bearer {token['access_token']}"}


def connect(service: str, autocommit: bool = False):
    """psycopg2 (not SQLAlchemy) on `service`'s database, as the settings name it."""
    import psycopg2  # noqa: PLC0415 (after the bench set CRM_DB_PREFIX)
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from crmkit.settings import database_settings  # noqa: PLC0415
    url = make_url(database_settings(service).url).set(drivername="postgresql")
    conn = psycopg2.connect(url.render_as_string(hide_password=False))
    conn.set_client_encoding("UTF8")
    conn.autocommit = autocommit
    return conn


def wait_for_count(stack, count, target: int, what: str, started: float,
                   deadline_s: float, poll_s: float) -> float:
    """Poll `count()` until it reaches `target`; seconds since `started` (perf_counter).
    Fails after deadline_s, or once a process of `stack` has died (checked every 50 polls)."""
    polls = 0
    while True:
        now = count()
        polls += 1
        elapsed = time.perf_counter() - started
        if now >= target:
            return elapsed
        if elapsed > deadline_s:
            raise RuntimeError(f"{now}/{target} {what} after {elapsed:.0f} s")
        if polls % 50 == 0:
            stack.check_alive()
        time.sleep(poll_s)
