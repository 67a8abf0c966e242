"""The gateway application: authentication, api.md's conventions, and one generic handler
that turns each route of the table into an RPC call."""
import asyncio
import base64
import hashlib
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route as StarletteRoute

from crmkit import context as ctx
from crmkit.errors import NotAuthenticated, ServiceUnavailable
from crmkit.fields import MAX_ID
from crmkit.jsonlog import configure_logging, request_id_var
from crmkit.settings import log_level
from crmkit.tokens import TokenVerifier
from gateway.http_errors import (
    HttpError,
    error_response,
    file_response,
    json_response,
    response_for,
)
from gateway.openapi import build_spec
from gateway.revocations import Revocations, subscribe
from gateway.routes import ROUTES, SERVICES, Route
from gateway.rpc_client import RpcClient
from gateway.settings import GatewaySettings
from gateway.settings import load as load_settings

log = logging.getLogger("gateway")
access_log = logging.getLogger("gateway.access")

API_PREFIX = "/api/v1"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
REQUEST_ID_FORM = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
IDEMPOTENCY_KEY_FORM = re.compile(r"^[\x21-\x7e]{1,200}$")


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class Gateway:
    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self.tokens = TokenVerifier(settings.tokens)
        self.rpc = RpcClient(settings.bus.amqp_uri, settings.bus.rpc_timeout)
        self.revocations = Revocations(settings.tokens.access_ttl)
        self._sync_task = None

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        await self.rpc.connect()
        await subscribe(self.rpc.connection, self.revocations)
        self._sync_task = asyncio.create_task(self._sync_revocations())

    async def _sync_revocations(self) -> None:
        # Subscribed first, then the snapshot: no revocation falls between the two.
        while not self.revocations.synced:
            try:
                self.revocations.load(await self.rpc.call("accounts", "list_revocations",
                                                          {}, {}, timeout=5))
            except Exception:  # noqa: BLE001 (accounts may still be starting)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
        await self.rpc.close()

    # --- request handling ---------------------------------------------------------------
    def authenticate(self, request: Request) -> tuple[ctx.Caller, dict]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("A bearer token is required")
        caller, claims = self.tokens.verify(token.strip())
        if not self.revocations.synced:
            raise ServiceUnavailable("The gateway is still starting")
        if self.revocations.is_revoked(claims):
            raise NotAuthenticated("The token has been revoked", code="token_revoked")
        return caller, claims

    async def _read_limited(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise HttpError(413, "payload_too_large", f"The body exceeds {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "payload_too_large", f"The body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_body(self, request: Request, route: Route):
        raw = await self._read_limited(request, self.settings.max_body_bytes)
        if not raw.strip():
            if route.body_optional:
                return {}
            raise HttpError(400, "invalid_json", "A JSON object body is required",
                            {"_body": ["required"]})
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise HttpError(400, "invalid_json", "The body is not UTF-8",
                            {"_body": ["not UTF-8"]}) from None
        except (ValueError, RecursionError) as exc:
            raise HttpError(400, "invalid_json", "The body is not valid JSON",
                            {"_body": [str(exc)[:200]]}) from None

    async def read_upload(self, request: Request) -> dict:
        """A file sent as the multipart/form-data field `file`, passed on base64-encoded
        (the bus speaks JSON). The size limit is checked before anything is parsed."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HttpError(400, "invalid_input", "Send the file as multipart/form-data",
                            {"file": ["send the file as the multipart field 'file'"]})
        raw = await self._read_limited(request, self.settings.max_upload_bytes)

        async def replay():
            return {"type": "http.request", "body": raw, "more_body": False}
        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
        except Exception as exc:  # noqa: BLE001 (any parser failure is the client's input)
            raise HttpError(400, "invalid_input", "The multipart body is malformed",
                            {"file": [str(exc)[:200] or "malformed multipart body"]}) from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HttpError(400, "invalid_input", "The field 'file' is missing",
                            {"file": ["required"]})
        content = await upload.read()
        await form.close()
        return {"filename": (upload.filename or "")[:255] or None,
                "content_base64": base64.b64encode(content).decode("ascii")}

    def idempotency(self, request: Request, route: Route, body) -> dict:
        key = request.headers.get("idempotency-key")
        if not route.creates or key is None:
            return {}
        if not IDEMPOTENCY_KEY_FORM.match(key):
            raise HttpError(400, "invalid_input", "Invalid Idempotency-Key",
                            {"Idempotency-Key": ["1 to 200 visible ASCII characters"]})
        canonical = json.dumps([request.method, request.url.path, body], sort_keys=True,
                               ensure_ascii=False)
        return {ctx.IDEMPOTENCY_KEY: key,
                ctx.REQUEST_HASH: hashlib.sha256(canonical.encode()).hexdigest()}

    async def dispatch(self, request: Request, route: Route):
        kwargs: dict = {}
        for name, value in request.path_params.items():
            if isinstance(value, int) and value > MAX_ID:
                raise HttpError(404, "not_found", "No such record")
            kwargs[name] = value
        context: dict = {}
        if not route.public:
            caller, _ = self.authenticate(request)
            context.update(caller.to_context_data())
        if route.upload:
            body = await self.read_upload(request)
            kwargs["data"] = body
            context.update(self.idempotency(request, route, body))
        elif route.body is not None:
            body = await self.read_body(request, route)
            kwargs["data"] = body
            context.update(self.idempotency(request, route, body))
        if route.query is not None:
            kwargs["query"] = dict(request.query_params)
        context[ctx.REQUEST_ID] = request_id_var.get()
        return await self.rpc.call(self.service_for(request, route), route.rpc, kwargs,
                                   context)

    @staticmethod
    def service_for(request: Request, route: Route) -> str:
        if route.service_by is None:
            return route.service
        name, owners = route.service_by
        service = owners.get(request.query_params.get(name, ""))
        if service is None:
            raise HttpError(400, "invalid_input", f"Unknown {name}",
                            {name: [f"one of {', '.join(sorted(owners))}"]})
        return service

    def endpoint(self, route: Route):
        async def handle(request: Request):
            started = time.perf_counter()
            request_id = request.headers.get("x-request-id", "")
            if not REQUEST_ID_FORM.match(request_id):
                request_id = uuid.uuid4().hex
            request_id_var.set(request_id)
            try:
                result = await self.dispatch(request, route)
                # A download route answers JSON when the RPC answered data, not a file
                # (a report asked for as format=json).
                is_file = route.download and isinstance(result, dict) \
                    and "content_base64" in result
                response = file_response(result) if is_file \
                    else json_response(result, route.status)
            except Exception as exc:  # noqa: BLE001 (every failure becomes a typed reply)
                response = response_for(exc, request_id)
            response.headers.update(SECURITY_HEADERS)
            response.headers["X-Request-Id"] = request_id
            if self.settings.access_log:
                access_log.info("request", extra={
                    "method": request.method, "path": request.url.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2)})
            return response
        return handle

    async def healthz(self, request: Request):
        return json_response({"status": "ok"})

    async def readyz(self, request: Request):
        if request.query_params.get("scope") == "gateway":
            # This process only (its bus connection and revocation list): what a load
            # balancer should ask, so one service down does not take every gateway out.
            ok = self.rpc.connected and self.revocations.synced
            return json_response({"status": "ready" if ok else "not_ready",
                                  "bus": self.rpc.connected,
                                  "revocations": self.revocations.synced},
                                 200 if ok else 503)

        async def check(service):
            try:
                return service, await self.rpc.call(service, "health", {}, {}, timeout=3)
            except Exception as exc:  # noqa: BLE001 (readiness reports, it does not raise)
                return service, {"error": type(exc).__name__}
        checks = dict(await asyncio.gather(*(check(s) for s in SERVICES))) \
            if self.rpc.connected else {}
        ok = self.rpc.connected and self.revocations.synced and all(
            isinstance(c, dict) and c.get("database") is True
            and c.get("object_store", True) is True for c in checks.values())
        return json_response({"status": "ready" if ok else "not_ready",
                              "bus": self.rpc.connected, "services": checks},
                             200 if ok else 503)


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    if settings is None:
        settings = load_settings()
        configure_logging("gateway", log_level())
    gateway = Gateway(settings)
    spec = build_spec(ROUTES, API_PREFIX)

    async def openapi(request):
        return json_response(spec)

    async def not_found(request, exc):
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return error_response(405, "method_not_allowed", "Method not allowed")
        return error_response(404, "not_found", "No such path")

    def starlette_path(path: str) -> str:
        return API_PREFIX + re.sub(r"\{(\w+_id)\}", r"{\1:int}", path)

    routes = [StarletteRoute(starlette_path(r.path), gateway.endpoint(r), methods=[r.method])
              for r in ROUTES]
    routes += [
        StarletteRoute(f"{API_PREFIX}/openapi.json", openapi, methods=["GET"]),
        StarletteRoute("/healthz", gateway.healthz, methods=["GET"]),
        StarletteRoute("/readyz", gateway.readyz, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app):
        await gateway.start()
        yield
        await gateway.stop()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found})
    app.state.gateway = gateway
    return app
