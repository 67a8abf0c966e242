"""The local stack without Docker: `make run` and the end-to-end tests use it.

Checks the local PostgreSQL and RabbitMQ (starting them if installed but stopped), starts
an S3-compatible server from PyPI (moto) unless MINIO_ENDPOINT points at a MinIO, migrates
every service database, bootstraps the admin user, starts one process per service and the
gateway, waits for /readyz, and stops everything on Ctrl-C or SIGTERM.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("accounts", "channels", "visits", "service_tickets", "notifications", "reporting")

# Development-only values: the local stack sets them when the environment does not.
DEV_DEFAULTS = {
    "CRM_JWT_SECRET": "local-development-secret-change-me-0123456789",
    "CRM_BOOTSTRAP_ADMIN_PASSWORD": "admin-dev-password",
    "MINIO_ACCESS_KEY": "crm-local",
    "MINIO_SECRET_KEY": "crm-local-secret",
}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")


def ensure_infrastructure(env: dict) -> None:
    """PostgreSQL and RabbitMQ are the machine's own; start them if installed but stopped."""
    pg = urlparse(env.get("CRM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"))
    amqp = urlparse(env.get("CRM_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    pg_host, pg_port = pg.hostname or "127.0.0.1", pg.port or 5432
    mq_host, mq_port = amqp.hostname or "127.0.0.1", amqp.port or 5672
    if not port_open(pg_host, pg_port) and shutil.which("pg_ctlcluster"):
        for version in sorted(os.listdir("/etc/postgresql")) if os.path.isdir(
                "/etc/postgresql") else []:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                            "start"], check=False)
    if not port_open(mq_host, mq_port) and shutil.which("rabbitmq-server"):
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
    wait_for(lambda: port_open(pg_host, pg_port), f"PostgreSQL at {pg_host}:{pg_port}", 60)
    wait_for(lambda: port_open(mq_host, mq_port), f"RabbitMQ at {mq_host}:{mq_port}", 90)


class Stack:
    """Every process of the system, started in order and stopped together."""

    def __init__(self, env: dict | None = None, log_dir: Path | None = None,
                 gateway_port: int | None = None):
        self.env = dict(os.environ if env is None else env)
        for key, value in DEV_DEFAULTS.items():
            self.env.setdefault(key, value)
        if gateway_port is not None:
            self.env["CRM_GATEWAY_PORT"] = str(gateway_port)
        self.env.setdefault("CRM_GATEWAY_PORT", "8000")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        host = self.env.get("CRM_GATEWAY_HOST", "127.0.0.1")
        return f"http://{host}:{self.env['CRM_GATEWAY_PORT']}"

    def _spawn(self, name: str, args: list[str]) -> None:
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives with the child)
        self.processes[name] = subprocess.Popen(
            args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True)

    def start_object_store(self) -> None:
        if self.env.get("MINIO_ENDPOINT"):
            return
        port = free_port()
        moto = Path(sys.executable).with_name("moto_server")
        self._spawn("s3", [str(moto), "-H", "127.0.0.1", "-p", str(port)])
        self.env["MINIO_ENDPOINT"] = f"127.0.0.1:{port}"
        self.env["MINIO_SECURE"] = "false"
        wait_for(lambda: port_open("127.0.0.1", port), "the S3 server", 30)

    def migrate(self) -> None:
        code = ("import sys\nfrom crmkit.migrations import upgrade\n"
                "for s in sys.argv[1:]:\n    upgrade(s)\n"
                "from accounts.bootstrap import bootstrap\n"
                "from accounts.settings import bootstrap_admin_password\n"
                "bootstrap(bootstrap_admin_password())\n"
                "from crmkit.bus import declare_event_queues\n"
                "declare_event_queues(sys.argv[1:])\n")
        subprocess.run([sys.executable, "-c", code, *SERVICES], env=self.env, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)

    def start_services(self) -> None:
        for service in SERVICES:
            self._spawn(service, [sys.executable, "-m", service])
        self._spawn("gateway", [sys.executable, "-m", "gateway"])

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as reply:
                    return reply.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_for(ready, "the gateway's /readyz", timeout)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")

    def start(self) -> "Stack":
        ensure_infrastructure(self.env)
        self.start_object_store()
        self.migrate()
        self.start_services()
        self.wait_ready()
        return self

    def stop(self, grace: float = 10) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrate-only", action="store_true",
                        help="create databases, migrate and bootstrap, then exit")
    args = parser.parse_args()
    stack = Stack()
    ensure_infrastructure(stack.env)
    if args.migrate_only:
        stack.migrate()
        print("migrated:", ", ".join(SERVICES))
        return 0
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start_object_store()
        stack.migrate()
        stack.start_services()
        stack.wait_ready()
        print(f"\nCRM is up: {stack.url}  (API under {stack.url}/api/v1, "
              f"OpenAPI at {stack.url}/api/v1/openapi.json)")
        print(f"Log in as admin / {stack.env['CRM_BOOTSTRAP_ADMIN_PASSWORD']}"
              f"   (S3 at {stack.env['MINIO_ENDPOINT']})")
        print("Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            stack.check_alive()
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
