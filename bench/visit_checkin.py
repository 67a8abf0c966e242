"""A field visit through the whole system, as the mobile app does it: 200 salespeople
(BENCH_SALES overrides), 8 at a time, each doing check-in, one ~1 MB photo (ask the gateway
for a slot, PUT the bytes straight to S3 with the presigned URL, confirm) and check-out.

Prints, for the timed phase: visits/s (visits / wall time of the phase), p50/p99 of each
step and of the whole visit (check-in start to check-out end). Then the photo upload path
against its baseline, both measured the same way: wall time of 8 lanes moving the same
200 photos (distinct ~1 MB JPEGs, MB = 10^6 bytes), MB/s = bytes / wall time:
  - photo path: slot + PUT + confirm for 200 visits checked in beforehand (a separate pass
    doing only that, so check-in and check-out do not share the lanes);
  - raw PUT: the same bytes PUT with presigned URLs made here with the `minio` client, to
    the same S3 server, into a scratch bucket created and removed by this script.
The ratio photo path / raw PUT is the figure the target is about. For reference it also
prints the photo path inside the full visits per lane: bytes x 8 / sum over visits of
(slot + PUT + confirm), i.e. the throughput 8 lanes would get doing only those steps at
the latencies seen while the other steps ran alongside.

Setup (not timed): a region, its manager, a channel owner with a partner and one store per
salesperson (one CSV import), the salespeople (logged in), two planned visits each.

Targets: photo path >= 0.8 x raw PUT throughput; full visit p99 < 1 s.

Run: .venv/bin/python bench/visit_checkin.py   (starts its own stack on databases crmbench_*)
"""
import csv
import hashlib
import io
import math
import os
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from local_stack import Stack, free_port  # noqa: E402

SALES = int(os.environ.get("BENCH_SALES", "200"))
LANES = 8
SETUP_THREADS = 4  # creating a user costs an argon2 hash
PHOTO_BYTES = 1_000_000
PASSWORD = "bench-visit-password"
SHANGHAI = (31.2304, 121.4737)
TZ = ZoneInfo("Asia/Shanghai")
PLAN_RETRY_SECONDS = 30
TARGET_RATIO = 0.8
TARGET_P99 = 1.0
STEPS = (("check_in", "check-in"), ("slot", "photo slot"), ("put", "photo PUT (to S3)"),
         ("confirm", "photo confirm"), ("check_out", "check-out"), ("visit", "whole visit"))
PHOTO_STEPS = ("slot", "put", "confirm")
MAX_SHOWN_ERRORS = 5


class StepFailed(Exception):
    def __init__(self, step: str, status: int, body: str):
        super().__init__(f"{step}: HTTP {status} {body[:500]}")
        self.step = step


def expect(reply: httpx.Response, status: int, step: str) -> dict:
    if reply.status_code != status:
        raise StepFailed(step, reply.status_code, reply.text)
    return reply.json() if reply.content else {}


def now_iso() -> str:
    return datetime.now(TZ).isoformat()


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Clients:
    """One httpx.Client per thread for the gateway and one for S3, closed together."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.local = threading.local()
        self.lock = threading.Lock()
        self.made: list[httpx.Client] = []

    def _get(self, name: str, **kwargs) -> httpx.Client:
        client = getattr(self.local, name, None)
        if client is None:
            client = httpx.Client(timeout=60, **kwargs)
            setattr(self.local, name, client)
            with self.lock:
                self.made.append(client)
        return client

    def api(self) -> httpx.Client:
        return self._get("api", base_url=self.base_url)

    def s3(self) -> httpx.Client:
        return self._get("s3")

    def close(self) -> None:
        for client in self.made:
            client.close()


class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_step: dict[str, int] = {}
        self.first: list[str] = []

    def add(self, exc: Exception) -> None:
        step = getattr(exc, "step", type(exc).__name__)
        with self.lock:
            self.by_step[step] = self.by_step.get(step, 0) + 1
            if len(self.first) < MAX_SHOWN_ERRORS:
                self.first.append(str(exc))

    @property
    def count(self) -> int:
        return sum(self.by_step.values())

    def show(self, label: str) -> None:
        if not self.count:
            return
        print(f"  {label}: {self.count} failed, by step {self.by_step}; first errors:")
        for line in self.first:
            print(f"    {line}")


def run_lanes(fn, items: list, failures: Failures) -> tuple[float, list]:
    """fn(item) on LANES threads; (wall seconds, results of the items that succeeded)."""
    def guarded(item):
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 (counted and shown, the run goes on)
            failures.add(exc)
            return None
    started = time.perf_counter()
    with ThreadPoolExecutor(LANES) as pool:
        results = list(pool.map(guarded, items))
    return time.perf_counter() - started, [r for r in results if r is not None]


def make_photos(n: int, seed: str) -> list[bytes]:
    """n distinct JPEGs of random pixels at quality 95, each close to PHOTO_BYTES."""
    from PIL import Image
    rnd = random.Random(seed)

    def jpeg(width: int, height: int) -> bytes:
        image = Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        return out.getvalue()
    width = 1024
    probe = jpeg(width, 512)
    height = round(512 * PHOTO_BYTES / len(probe))
    return [jpeg(width, height) for _ in range(n)]


# --- setup (not timed) ---------------------------------------------------------------------

def login(api: httpx.Client, username: str, password: str) -> dict:
    token = expect(api.post("/auth/token", json={"username": username, "password": password}),
                   200, "login")["access_token"]
    return {"Authorization": f"Bearer {token}"}


def create_user(api: httpx.Client, admin: dict, username: str, role: str, unit: int,
                manager_id: int) -> dict:
    return expect(api.post("/users", headers=admin, json={
        "username": username, "password": PASSWORD, "display_name": username,
        "roles": [role], "org_unit_id": unit, "manager_id": manager_id}), 201, "create user")


def import_stores(api: httpx.Client, owner: dict, run_id: str) -> list[dict]:
    """One store per salesperson around Shanghai, by one CSV import; the stores as listed."""
    partner = f"VB-{run_id}"
    partner_id = expect(api.post("/partners", headers=owner, json={
        "code": partner, "name": f"上海连锁{run_id}", "kind": "chain"}), 201, "partner")["id"]
    rnd = random.Random(run_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("code", "name", "partner_code", "address", "lat", "lon", "status"))
    for i in range(SALES):
        writer.writerow((f"VS{run_id}-{i:05d}", f"上海体验店{i + 1}号", partner,
                         f"上海市黄浦区人民大道{i + 1}号",
                         f"{SHANGHAI[0] + rnd.uniform(-0.2, 0.2):.6f}",
                         f"{SHANGHAI[1] + rnd.uniform(-0.2, 0.2):.6f}", "active"))
    job = expect(api.post("/stores/import", headers=owner, files={
        "file": ("stores.csv", out.getvalue().encode(), "text/csv")}), 202, "store import")
    deadline = time.monotonic() + 120
    while job["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"store import still {job['status']} after 120 s")
        time.sleep(0.05)
        job = expect(api.get(f"/imports/{job['id']}", headers=owner), 200, "import status")
    if job["status"] != "succeeded":
        raise RuntimeError(f"store import failed: {job.get('errors', [])[:5]}")
    stores, cursor = [], None
    while True:
        params = {"partner_id": partner_id, "limit": 500} | ({"cursor": cursor} if cursor
                                                              else {})
        listed = expect(api.get("/stores", headers=owner, params=params), 200, "stores")
        stores += listed["items"]
        cursor = listed["next_cursor"]
        if not cursor:
            break
    assert len(stores) == SALES, len(stores)
    return sorted(stores, key=lambda s: s["code"])


def plan_visit(clients: Clients, person: dict) -> dict:
    """Plan a visit to the person's store; the store reaches visits through channels'
    events, so 400 (unknown store) is retried for up to PLAN_RETRY_SECONDS."""
    deadline = time.monotonic() + PLAN_RETRY_SECONDS
    while True:
        reply = clients.api().post("/visits", headers=person["auth"], json={
            "store_id": person["store"]["id"], "planned_at": now_iso()})
        if reply.status_code != 400 or time.monotonic() > deadline:
            return expect(reply, 201, "plan visit")
        time.sleep(0.2)


def setup(stack: Stack, clients: Clients, run_id: str) -> list[dict]:
    """The people, stores and planned visits: one dict per salesperson."""
    api = clients.api()
    admin = login(api, "admin", stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
    region = expect(api.post("/org-units", headers=admin, json={
        "name": f"华东大区{run_id}", "kind": "region", "parent_id": 1}), 201, "org unit")
    manager = create_user(api, admin, f"vb{run_id}-manager", "region_manager", region["id"], 1)
    owner = create_user(api, admin, f"vb{run_id}-owner", "channel_owner", region["id"],
                        manager["id"])
    stores = import_stores(api, login(api, owner["username"], PASSWORD), run_id)
    started = time.perf_counter()

    def make_person(i: int) -> dict:
        user = create_user(clients.api(), admin, f"vb{run_id}-sales{i:05d}", "field_sales",
                           region["id"], manager["id"])
        return {"user": user, "store": stores[i],
                "auth": login(clients.api(), user["username"], PASSWORD)}
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        people = list(pool.map(make_person, range(SALES)))
    print(f"  {SALES} salespeople created and logged in: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with ThreadPoolExecutor(LANES) as pool:
        people = list(pool.map(lambda p: p | {"visit": plan_visit(clients, p),
                                              "upload_visit": plan_visit(clients, p)}, people))
    print(f"  {2 * SALES} visits planned: {time.perf_counter() - started:.1f} s")
    return people


# --- the visit and the photo path ----------------------------------------------------------

def check_in_body(person: dict) -> dict:
    store = person["store"]
    # ~33 m north of the store, well inside the radius; both visits of a person check in
    # at the same spot, so no impossible-travel signal either.
    return {"lat": store["lat"] + 0.0003, "lon": store["lon"], "accuracy_m": 12,
            "at": now_iso()}


def photo_steps(clients: Clients, person: dict, visit_id: int, photo: bytes,
                times: dict) -> None:
    api, auth = clients.api(), person["auth"]
    started = time.perf_counter()
    slot = expect(api.post(f"/visits/{visit_id}/photos", headers=auth, json={
        "content_type": "image/jpeg", "size": len(photo),
        "sha256": hashlib.sha256(photo).hexdigest(), "source": "camera"}), 201, "slot")
    put_started = time.perf_counter()
    times["slot"] = put_started - started
    expect(clients.s3().put(slot["upload_url"], content=photo,
                            headers={"Content-Type": "image/jpeg"}), 200, "put")
    confirm_started = time.perf_counter()
    times["put"] = confirm_started - put_started
    confirmed = expect(api.post(f"/visits/{visit_id}/photos/{slot['photo_id']}/confirm",
                                headers=auth), 200, "confirm")
    times["confirm"] = time.perf_counter() - confirm_started
    if confirmed.get("status") != "confirmed":
        raise StepFailed("confirm", 200, f"photo status {confirmed.get('status')}")
    times["bytes"] = len(photo)


def full_visit(clients: Clients, person: dict, photo: bytes) -> dict:
    api, auth, visit_id = clients.api(), person["auth"], person["visit"]["id"]
    times = {}
    started = time.perf_counter()
    expect(api.post(f"/visits/{visit_id}/check-in", headers=auth,
                    json=check_in_body(person)), 200, "check_in")
    times["check_in"] = time.perf_counter() - started
    photo_steps(clients, person, visit_id, photo, times)
    out_started = time.perf_counter()
    done = expect(api.post(f"/visits/{visit_id}/check-out", headers=auth, json={
        "feedback": "陈列良好，店员培训完成", "needs": "补充新品海报", "details": {}}),
        200, "check_out")
    ended = time.perf_counter()
    if done.get("status") != "completed":
        raise StepFailed("check_out", 200, f"visit status {done.get('status')}")
    times["check_out"] = ended - out_started
    times["visit"] = ended - started
    return times


def check_in_only(clients: Clients, person: dict) -> int:
    expect(clients.api().post(f"/visits/{person['upload_visit']['id']}/check-in",
                              headers=person["auth"], json=check_in_body(person)),
           200, "check_in")
    return person["user"]["id"]


def upload_only(clients: Clients, person: dict, photo: bytes) -> dict:
    times = {}
    photo_steps(clients, person, person["upload_visit"]["id"], photo, times)
    return times


def raw_put(clients: Clients, url: str, photo: bytes) -> dict:
    started = time.perf_counter()
    expect(clients.s3().put(url, content=photo, headers={"Content-Type": "image/jpeg"}),
           200, "raw_put")
    return {"put": time.perf_counter() - started, "bytes": len(photo)}


def raw_put_pass(stack: Stack, clients: Clients, photos: list[bytes], run_id: str,
                 failures: Failures) -> tuple[float, list[dict]]:
    from minio import Minio
    endpoint = stack.env["MINIO_ENDPOINT"]
    secure = stack.env.get("MINIO_SECURE", "false").lower() in ("1", "true", "yes")
    minio = Minio(endpoint, access_key=stack.env.get("MINIO_ACCESS_KEY", "crm-local"),
                  secret_key=stack.env.get("MINIO_SECRET_KEY", "crm-local-secret"),
                  secure=secure, region=stack.env.get("MINIO_REGION", "us-east-1"))
    bucket = f"bench-raw-{run_id}"
    keys = [f"raw/{i:05d}.jpg" for i in range(len(photos))]
    minio.make_bucket(bucket)
    try:
        urls = [minio.presigned_put_object(bucket, key) for key in keys]
        pairs = list(zip(urls, photos, strict=True))
        return run_lanes(lambda pair: raw_put(clients, *pair), pairs, failures)
    finally:
        for key in keys:
            minio.remove_object(bucket, key)
        minio.remove_bucket(bucket)


# --- report ----------------------------------------------------------------------------------

def show_steps(results: list[dict], steps) -> None:
    print(f"  {'step':<20} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for key, label in steps:
        values = [r[key] * 1000 for r in results]
        print(f"  {label:<20} {percentile(values, 50):8.1f} {percentile(values, 99):8.1f} "
              f"{sum(values) / len(values):8.1f} {max(values):8.1f}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def tail(stack: Stack, name: str, chars: int = 3000) -> None:
    log = stack.log_dir / f"{name}.log"
    if log.exists():
        print(f"--- tail of {log}\n{log.read_text(errors='replace')[-chars:]}")


def main():
    env = dict(os.environ, CRM_DB_PREFIX="crmbench", CRM_ACCESS_LOG="false",
               CRM_LOG_LEVEL="WARNING")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    run_id = uuid.uuid4().hex[:8]
    clients = None
    failed = False
    try:
        stack.start()
        clients = Clients(f"{stack.url}/api/v1")
        photos = make_photos(SALES, f"{run_id}-visit")
        upload_photos = make_photos(SALES, f"{run_id}-upload")
        total_bytes = sum(map(len, upload_photos))
        print(f"Visit check-in: {SALES} salespeople, {LANES} at a time, photos "
              f"{sum(map(len, photos)) / len(photos) / 1e6:.3f} MB on average (distinct "
              f"JPEGs), S3 at {stack.env['MINIO_ENDPOINT']}, {os.cpu_count()} cores shared "
              f"by everything")
        started = time.perf_counter()
        people = setup(stack, clients, run_id)
        print(f"Setup (not timed): {time.perf_counter() - started:.1f} s")

        failures = Failures()
        wall, results = run_lanes(lambda pair: full_visit(clients, *pair),
                                  list(zip(people, photos, strict=True)), failures)
        failed |= bool(failures.count)
        print(f"Full visits: {len(results)} ok, {failures.count} failed in {wall:.2f} s -> "
              f"{len(results) / wall:.1f} visits/s")
        failures.show("full visits")
        if results:
            show_steps(results, STEPS)

        # The photo path alone: the second visit of everyone, checked in first (not timed).
        check_failures = Failures()
        _, checked = run_lanes(lambda p: check_in_only(clients, p), people, check_failures)
        check_failures.show("check-in before the photo-only pass")
        upload_failures = Failures()
        checked = set(checked)
        ready = [(person, photo) for person, photo in zip(people, upload_photos, strict=True)
                 if person["user"]["id"] in checked]
        upload_wall, uploads = run_lanes(lambda pair: upload_only(clients, *pair), ready,
                                         upload_failures)
        raw_failures = Failures()
        raw_wall, raws = raw_put_pass(stack, clients, upload_photos, run_id, raw_failures)
        raw_times = [r["put"] for r in raws]
        failed |= bool(upload_failures.count or raw_failures.count or check_failures.count)

        print(f"Photo upload, the same {len(upload_photos)} photos ({total_bytes / 1e6:.1f} MB)"
              f", {LANES} lanes, MB/s = bytes / wall time of the pass:")
        raw_rate = sum(r["bytes"] for r in raws) / 1e6 / raw_wall
        print(f"  raw PUT to S3 (presigned, scratch bucket) {raw_wall:6.2f} s {raw_rate:7.1f} "
              f"MB/s   PUT p50 {percentile(raw_times, 50) * 1000:6.1f} ms, "
              f"p99 {percentile(raw_times, 99) * 1000:6.1f} ms, {raw_failures.count} failed")
        raw_failures.show("raw PUT")
        ratio = None
        if uploads:
            rate = sum(u["bytes"] for u in uploads) / 1e6 / upload_wall
            ratio = rate / raw_rate
            print(f"  photo path: slot + PUT + confirm        {upload_wall:6.2f} s {rate:7.1f} "
                  f"MB/s   {len(uploads)} ok, {upload_failures.count} failed   "
                  f"ratio to raw PUT {ratio:.2f}")
            upload_failures.show("photo path")
            show_steps(uploads, [(k, label) for k, label in STEPS if k in PHOTO_STEPS])
        if results:
            visit_bytes = sum(r["bytes"] for r in results)
            per_lane = visit_bytes * LANES / 1e6 / sum(sum(r[k] for k in PHOTO_STEPS)
                                                       for r in results)
            raw_lane = sum(r["bytes"] for r in raws) * LANES / 1e6 / sum(raw_times)
            print(f"  for reference, per lane (bytes x {LANES} / sum of step times): photo "
                  f"path inside the full visits {per_lane:.1f} MB/s, raw PUT {raw_lane:.1f} "
                  f"MB/s, ratio {per_lane / raw_lane:.2f}")

        p99 = percentile([r["visit"] for r in results], 99) if results else math.inf
        print(f"Targets: photo path >= {TARGET_RATIO} x raw PUT: "
              f"{verdict(ratio is not None and ratio >= TARGET_RATIO)} "
              f"({'n/a' if ratio is None else f'{ratio:.2f}'}); full visit p99 < "
              f"{TARGET_P99:.0f} s: {verdict(p99 < TARGET_P99)} ({p99:.3f} s); failures: "
              f"{failures.count + upload_failures.count + raw_failures.count}")
    except Exception:
        failed = True
        raise
    finally:
        if failed:
            for name in ("visits", "gateway"):
                tail(stack, name)
        if clients is not None:
            clients.close()
        stack.stop()


if __name__ == "__main__":
    main()
