"""What every request passes through: the proxy-key check and the access line.

`Gate` is ASGI middleware around all routes, so a route cannot be left open by mistake:
with proxy keys configured, everything except `GET /health` needs one (an unknown path
too, so the proxy cannot be probed), answered with the 401 of the API the path belongs
to. Without proxy keys (and without `open_proxy`) it answers 403 to a request that came
in on a non-loopback address: `serve` refuses to bind one, but an app started another way
(`uvicorn --factory ... --host 0.0.0.0`) would otherwise be an open relay. It writes one
access line per request at INFO on `langchain_bhumi.proxy`, when the response is over;
handlers add their fields to the request's `AccessRecord`.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langchain_bhumi.core.redaction import Redactor
from langchain_bhumi.protocols.base import ServerCodec
from langchain_bhumi.proxy.config import OPEN_PROXY_FIX, is_loopback
from langchain_bhumi.proxy.keys import KeyRing, KeyState, presented_key

logger = logging.getLogger("langchain_bhumi.proxy")

ACCESS = "langchain_bhumi.access"
"""Scope key of the request's `AccessRecord`."""

_PUBLIC = frozenset({("GET", "/health"), ("HEAD", "/health")})
_TIMES = frozenset({"ttft", "total"})


class AccessRecord:
    """One request, as the access line will show it.

    `fields` are shown in insertion order (`None` values left out); `status`, when a
    handler sets it, replaces the HTTP status (a stream that failed after its headers,
    499 for a client that went away).
    """

    __slots__ = ("client_key", "fields", "key", "started", "status")

    def __init__(self, path: str) -> None:
        self.started = time.monotonic()
        self.fields: dict[str, Any] = {"rid": "req_" + secrets.token_hex(8), "path": path}
        self.status: int | None = None
        self.key: KeyState | None = None
        self.client_key: str | None = None

    @property
    def rid(self) -> str:
        return str(self.fields["rid"])


@functools.lru_cache(maxsize=64)
def reachable_from_network(host: str) -> bool:
    """Whether a connection's local address (`scope["server"][0]`) is one other machines
    can reach: an IP address, not loopback. A Unix socket's path or a name (an in-process
    test client) is not an address on the network."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not is_loopback(host)


def access_record(scope: Scope) -> AccessRecord:
    """The request's record (a fresh one when the app runs without the gate)."""
    record = scope.get(ACCESS)
    if not isinstance(record, AccessRecord):
        record = scope[ACCESS] = AccessRecord(scope.get("path", ""))
    return record


class Gate:
    """ASGI middleware: key check, then the app, then one access line.

    Args:
        app: The routes.
        keys: The proxy keys (empty: no check).
        codecs: Frontend codecs by format name, for 401 bodies in each API's format.
        frontend_for_path: The format name a path belongs to.
        secrets: Values never to show in a log line.
        open_proxy: Serve requests from the network without proxy keys (something in
            front of the proxy authenticates clients).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyRing,
        codecs: dict[str, ServerCodec],
        frontend_for_path: Callable[[str], str],
        secrets: tuple[str, ...] = (),
        open_proxy: bool = False,
    ) -> None:
        self.app = app
        self.keys = keys
        self.codecs = codecs
        self.frontend_for_path = frontend_for_path
        self.redactor = Redactor(secrets)
        self.local_only = not keys and not open_proxy
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = AccessRecord(scope["path"])
        scope[ACCESS] = record
        client = scope.get("client")
        if client:
            record.fields["client"] = client[0]
        record.client_key = presented_key(scope)
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            server = scope.get("server")
            if self.local_only and server and reachable_from_network(server[0]):
                await self._refuse_network(server[0], scope, receive, watch)
                return
            if self.keys and (scope["method"], scope["path"]) not in _PUBLIC:
                record.key = self.keys.match(record.client_key)
                if record.key is None:
                    await self._unauthorized(scope, receive, watch)
                    return
                record.fields["key"] = record.key.name
            await self.app(scope, receive, watch)
        finally:
            self._log(record, record.status or status)

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = "an unknown" if scope[ACCESS].client_key else "no"
        message = f"{given} proxy key: send a key this proxy was configured with as your API key"
        await self._refuse(401, "authentication_error", message, scope, receive, send)

    async def _refuse_network(self, host: str, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"this proxy runs without proxy keys and was reached on {host}, an address other "
            "machines can reach, so it refuses the request: anyone who can reach the port "
            f"could use its backends and spend their keys. {OPEN_PROXY_FIX}"
        )
        if not self._warned:  # also where no access line shows (uvicorn's default logging)
            self._warned = True
            logger.warning("%s", message)
        await self._refuse(403, "permission_error", message, scope, receive, send)

    async def _refuse(
        self, status: int, kind: str, message: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer in the error format of the API the path belongs to."""
        codec = self.codecs[self.frontend_for_path(scope["path"])]
        scope[ACCESS].fields["error"] = message
        body = codec.error_body(status, kind, message)
        await JSONResponse(body, status_code=status)(scope, receive, send)

    def _log(self, record: AccessRecord, status: int) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        fields = {**record.fields, "status": status, "total": time.monotonic() - record.started}
        error = fields.pop("error", None)
        if error is not None:
            fields["error"] = error  # last: it is the longest
        text = " ".join(
            f"{k}={v:.3f}s" if k in _TIMES and isinstance(v, float) else f"{k}={v}"
            for k, v in fields.items()
            if v is not None
        )
        text = self.redactor.text(text)
        if record.client_key and record.client_key in text:
            text = text.replace(record.client_key, "***")
        logger.info("%s", text)


__all__ = ["ACCESS", "AccessRecord", "Gate", "access_record"]
