"""A RabbitMQ node of the fault tests' own, beside the machine's broker: the same
`rabbitmq-server` the machine runs, on its own port, node name and data directory, so a
test can kill it and start it again (its durable queues and persisted messages survive, as
they would on a real restart) without touching the broker everything else uses."""
import os
import shutil
import signal
import subprocess
from pathlib import Path

from local_stack import free_port, port_open, wait_for

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")


def available() -> bool:
    return SERVER.exists() and CTL.exists() and shutil.which("erl") is not None


class PrivateBroker:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.node = f"crmfault{self.port}@localhost"
        self.process: subprocess.Popen | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (base / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1"}

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 90) -> None:
        with open(self.base / "server.log", "ab") as out:
            self.process = subprocess.Popen([str(SERVER)], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: port_open("127.0.0.1", self.port), f"RabbitMQ node {self.node}",
                 timeout)

    def kill(self) -> None:
        """SIGKILL the node (the Erlang VM and its helpers): what a crash or a pulled plug
        does. Only messages the broker had not confirmed can be lost."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        wait_for(lambda: not port_open("127.0.0.1", self.port), "the node to go down", 30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run([str(CTL), "-n", self.node, "stop"], env=self.env,
                       capture_output=True, timeout=60, check=False)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def queue_depths(self) -> dict[str, int]:
        """Ready + unacknowledged messages of every queue."""
        listed = subprocess.run(
            [str(CTL), "-n", self.node, "-q", "list_queues", "--no-table-headers", "name",
             "messages"], env=self.env, capture_output=True, text=True, timeout=60,
            check=True).stdout
        depths = {}
        for line in listed.splitlines():
            name, _, count = line.rpartition("\t")
            if name:
                depths[name] = int(count)
        return depths
