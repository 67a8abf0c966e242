"""Service-to-service RPC with a timeout on every call (nameko 2's proxy waits forever).
A call that times out raises `ServiceUnavailable`; typed errors of the callee re-raise as
themselves."""
import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import ReplyListener, RpcProxy

from crmkit.entrypoints import ParkingQueueConsumer
from crmkit.errors import ServiceUnavailable
from crmkit.settings import bus_settings


class _TimedServiceProxy:
    def __init__(self, proxy, service: str, timeout: float):
        self._proxy = proxy
        self._service = service
        self._timeout = timeout

    def __getattr__(self, method: str):
        def call(*args, **kwargs):
            try:
                reply = getattr(self._proxy, method).call_async(*args, **kwargs)
                with eventlet.Timeout(self._timeout):
                    return reply.result()
            except eventlet.Timeout:
                raise ServiceUnavailable(
                    f"{self._service}.{method} did not answer within {self._timeout}s") from None
            except UnknownService:
                raise ServiceUnavailable(f"{self._service} is not running") from None
        return call


class _ReplyListener(ReplyListener):
    # The consumer the service's entrypoints use, so replies share their connection.
    queue_consumer = ParkingQueueConsumer()


class TimedRpcProxy(RpcProxy):
    rpc_reply_listener = _ReplyListener()

    def __init__(self, target_service: str, timeout: float | None = None, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def get_dependency(self, worker_ctx):
        timeout = self.timeout or bus_settings().rpc_timeout
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  timeout)
