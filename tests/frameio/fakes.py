"""A small behavioural stand-in for Frame.io's C2C API, served through ``httpx.MockTransport``.

It checks requests the way Frame.io (and our emulator's strict mode) does: a semver
``x-client-version`` on every call, multipart/form-data on the auth endpoints, a valid bearer
token and a JSON body on device endpoints. Then it answers with state: device codes that a test
approves or declines, rotating single-use refresh tokens, channels, assets and a rate limit on
asset create. ``script()`` queues a canned answer for the next matching request (after the
checks), for error shapes the behaviour does not produce by itself.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
AUTH_PATHS = {"/v2/auth/device/code", "/v2/auth/token", "/v2/auth/revoke"}
MIB = 1024 * 1024


def detailed(status: int, title: str, detail: str) -> dict[str, Any]:
    """Frame.io's detailed error body."""
    return {
        "code": status,
        "errors": [{"code": status, "detail": detail, "status": status, "title": title}],
        "message": title,
    }


@dataclass
class Pairing:
    user_code: str
    approved: bool = False
    declined: bool = False


@dataclass
class FakeFrameio:
    client_id: str = "hub-serial-0001"
    client_secret: str = "cs_live_9f8e7d6c5b4a"
    device_model_ids: set[str] = field(default_factory=lambda: {"model-mic"})
    asset_create_limit: int = 5
    paused: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    pairings: dict[str, Pairing] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    used_refresh_tokens: set[str] = field(default_factory=set)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    scripted: dict[tuple[str, str], list[httpx.Response]] = field(default_factory=dict)
    asset_creates: int = 0

    def __post_init__(self) -> None:
        self.channels["chan-primary"] = self._channel("chan-primary", "hub-serial-0001", 0)

    # ---- test controls --------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def issue_token(self) -> str:
        token = "at_" + secrets.token_hex(8)
        self.access_tokens.add(token)
        return token

    def approve(self, device_code: str) -> None:
        self.pairings[device_code].approved = True

    def decline(self, device_code: str) -> None:
        self.pairings[device_code].declined = True

    def script(
        self,
        method: str,
        path: str,
        status: int,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``method path`` (once it passes the checks) with this response."""
        if json_body is not None:
            response = httpx.Response(status, json=json_body, headers=headers)
        else:
            response = httpx.Response(status, content=content or b"", headers=headers)
        self.scripted.setdefault((method, path), []).append(response)

    # ---- the server -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self._checked(request)
        for name, value in self._rate_headers(request).items():
            response.headers.setdefault(name, value)
        return response

    def _rate_headers(self, request: httpx.Request) -> dict[str, str]:
        if request.url.path == "/v2/devices/assets":
            remaining = max(self.asset_create_limit - self.asset_creates, 0)
            return {
                "x-ratelimit-limit": str(self.asset_create_limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-window": "1000",
            }
        return {
            "x-ratelimit-limit": "40",
            "x-ratelimit-remaining": "39",
            "x-ratelimit-window": "60000",
        }

    def _checked(self, request: httpx.Request) -> httpx.Response:
        version = request.headers.get("x-client-version", "")
        if not SEMVER.match(version):
            return httpx.Response(
                400, json=detailed(400, "Bad Request", "x-client-version must be semver")
            )
        path = request.url.path
        body: dict[str, Any]
        if path in AUTH_PATHS:
            if "authorization" in request.headers:
                return httpx.Response(400, json={"error": "invalid_request"})
            parsed = self._multipart(request)
            if parsed is None:
                return httpx.Response(400, json={"error": "invalid_request"})
            body = parsed
        elif path == "/health":
            body = {}
        else:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.access_tokens:
                return httpx.Response(
                    401,
                    json=detailed(401, "Not Authorized", "You are not allowed to access that"),
                )
            if request.content:
                if request.headers.get("content-type") != "application/json":
                    return httpx.Response(
                        400, json=detailed(400, "Bad Request", "expected application/json")
                    )
                body = json.loads(request.content)
            else:
                body = {}
        queued = self.scripted.get((request.method, path))
        if queued:
            return queued.pop(0)
        return self._route(request, path, body)

    @staticmethod
    def _multipart(request: httpx.Request) -> dict[str, Any] | None:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data; boundary="):
            return None
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + request.content)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                return None
            fields[name] = payload.decode()
        return fields

    def _route(self, request: httpx.Request, path: str, body: dict[str, Any]) -> httpx.Response:
        m = request.method
        if (m, path) == ("POST", "/v2/auth/device/code"):
            return self._device_code(request, body)
        if (m, path) == ("POST", "/v2/auth/token"):
            return self._token(body)
        if (m, path) == ("POST", "/v2/auth/revoke"):
            if not self._client_ok(body):
                return httpx.Response(400, json={"error": "invalid_client"})
            self.access_tokens.discard(body.get("token", ""))
            self.refresh_tokens.discard(body.get("token", ""))
            return httpx.Response(200, json={"success": True})
        if (m, path) == ("GET", "/health"):
            return httpx.Response(200, json={"ok": True})
        if (m, path) == ("GET", "/v2/devices/me"):
            return httpx.Response(200, json=self._me())
        if (m, path) == ("POST", "/v2/devices/heartbeat"):
            return httpx.Response(204)
        if m == "POST" and path in {"/v2/devices/channels/connect", "/v2/devices/channels"}:
            return self._connect(body)
        if (m, path) == ("POST", "/v2/devices/channels/disconnect"):
            for key in [k for k, c in self.channels.items() if c["external_index"] != 0]:
                del self.channels[key]
            return httpx.Response(204)
        parts = path.split("/")
        if m == "POST" and path.startswith("/v2/devices/channels/") and parts[-1] == "disconnect":
            return self._disconnect(parts[4])
        if m == "POST" and path.startswith("/v2/devices/channels/") and parts[-1] == "trigger":
            channel = self.channels.get(parts[4])
            if channel is None or not channel["real_time_logging_capable"]:
                return httpx.Response(422, json=detailed(422, "Invalid", "not capable"))
            return httpx.Response(204)
        if (m, path) == ("POST", "/v2/devices/assets"):
            return self._create_asset(body)
        if m == "POST" and path.startswith("/v2/devices/assets/"):
            asset = self.assets.get(parts[4])
            if asset is None:
                return httpx.Response(404, json=detailed(404, "Not Found", "no such asset"))
            if path.endswith("/realtime_upload/parts"):
                urls = [f"https://s3.example/{asset['id']}/{p['number']}" for p in body["parts"]]
                return httpx.Response(200, json={"upload_urls": urls})
            if path.endswith("/comments"):
                comment = {"_type": "comment", "id": "cmt-1", "asset_id": asset["id"], **body}
                return httpx.Response(200, json=comment)
        return httpx.Response(404, content=b"<html>not found</html>")

    def _client_ok(self, body: dict[str, Any]) -> bool:
        return (
            body.get("client_id") == self.client_id
            and body.get("client_secret") == self.client_secret
        )

    def _device_code(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if not self._client_ok(body):
            return httpx.Response(400, json={"error": "invalid_client"})
        if set(str(body.get("scope", "")).split()) - {"asset_create", "offline"}:
            return httpx.Response(400, json={"error": "invalid_request"})
        device_code = "dc_" + secrets.token_hex(8)
        user_code = f"{secrets.randbelow(10**6):06d}"
        self.pairings[device_code] = Pairing(user_code)
        answer: dict[str, Any] = {
            "device_code": device_code,
            "user_code": user_code,
            "expires_in": 120,
            "interval": 5,
            "name": "c2c-hub",
            "verification_uri": "https://next.frame.io/pair",
            "an_extra_field_frameio_added": [1, 2, 3],
        }
        if request.headers.get("x-client-platypus-enabled") == "true":
            answer["verification_uri_complete"] = f"https://next.frame.io/pair/{user_code}"
        return httpx.Response(200, json=answer)

    def _tokens(self) -> httpx.Response:
        refresh = "rt_" + secrets.token_hex(8)
        self.refresh_tokens.add(refresh)
        answer = {
            "access_token": self.issue_token(),
            "refresh_token": refresh,
            "expires_in": 28800,
            "token_type": "bearer",
        }
        return httpx.Response(200, json=answer)

    def _token(self, body: dict[str, Any]) -> httpx.Response:
        if not self._client_ok(body):
            return httpx.Response(400, json={"error": "invalid_client"})
        grant = body.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            pairing = self.pairings.get(body.get("device_code", ""))
            if pairing is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            if pairing.declined:
                return httpx.Response(400, json={"error": "access_denied"})
            if not pairing.approved:
                return httpx.Response(400, json={"error": "authorization_pending"})
            del self.pairings[body["device_code"]]
            return self._tokens()
        if grant == "refresh_token":
            token = body.get("refresh_token", "")
            if token in self.used_refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_request"})
            if token not in self.refresh_tokens:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.refresh_tokens.discard(token)
            self.used_refresh_tokens.add(token)
            return self._tokens()
        return httpx.Response(400, json={"error": "invalid_request"})

    @staticmethod
    def _channel(channel_id: str, client_id: str, index: int) -> dict[str, Any]:
        return {
            "_type": "project_device_channel",
            "id": channel_id,
            "client_id": client_id,
            "external_index": index,
            "name": f"channel {index}",
            "asset_type": "audio",
            "real_time_logging_capable": index != 0,
            "status": "online",
            "inserted_at": "2023-07-14T19:11:43.217565Z",
        }

    def _me(self) -> dict[str, Any]:
        return {
            "_type": "project_device",
            "id": "pd-1",
            "name": "c2c-hub",
            "status": "paused" if self.paused else "online",
            "project_id": "proj-1",
            "project": {"_type": "project", "id": "proj-1", "name": "Testbed"},
            "authorization": {
                "_type": "project_device_authorization",
                "creator": {"_type": "user", "id": "user-1", "name": "Harry Potter"},
                "expires_at": None,
                "scopes": {"id": "s-1", "asset_create": True, "offline": True, "team_read": False},
            },
            "channels": [
                {k: v for k, v in c.items() if k != "client_id"} for c in self.channels.values()
            ],
            "some_future_field": {"nested": True},
        }

    def _connect(self, body: dict[str, Any]) -> httpx.Response:
        if body.get("device_model_id") not in self.device_model_ids:
            return httpx.Response(422, json=detailed(422, "Invalid", "unknown device model"))
        if any(c["client_id"] == body.get("client_id") for c in self.channels.values()):
            return httpx.Response(409, json=detailed(409, "Already Exists", "already declared"))
        index = max(c["external_index"] for c in self.channels.values()) + 1
        channel = self._channel(f"chan-{index}", str(body.get("client_id")), index)
        self.channels[channel["id"]] = channel
        return httpx.Response(200, json={k: v for k, v in channel.items() if k != "client_id"})

    def _disconnect(self, channel_id: str) -> httpx.Response:
        channel = self.channels.get(channel_id)
        if channel is None:
            return httpx.Response(404, json=detailed(404, "Not Found", "no such channel"))
        if channel["external_index"] == 0:
            return httpx.Response(422, json=detailed(422, "Invalid", "primary channel"))
        del self.channels[channel_id]
        return httpx.Response(204)

    def _create_asset(self, body: dict[str, Any]) -> httpx.Response:
        self.asset_creates += 1
        if self.asset_creates > self.asset_create_limit:
            return httpx.Response(429, json=detailed(429, "Too Many Requests", "slow down"))
        indexes = {c["external_index"] for c in self.channels.values()}
        if body.get("channel") not in indexes:
            return httpx.Response(422, json=detailed(422, "Invalid", "unknown channel"))
        if self.paused:
            return httpx.Response(
                409,
                json=detailed(
                    409, "Channel Paused", "The channel you're uploading from is currently paused."
                ),
            )
        asset_id = f"asset-{len(self.assets) + 1}"
        if body.get("is_realtime_upload"):
            name = body.get("name") or f"[new file]{body['extension']}"
            self.assets[asset_id] = {"id": asset_id, "name": name}
            return httpx.Response(200, json={"id": asset_id, "name": name})
        count = body.get("parts") or math.ceil(body["filesize"] / (16 * MIB))
        asset = {
            "_type": "file",
            "id": asset_id,
            "name": body["name"],
            "filetype": body["filetype"],
            "filesize": body["filesize"],
            "status": "created",
            "upload_urls": [f"https://s3.example/{asset_id}/{n}" for n in range(1, count + 1)],
            "label": "none",
        }
        self.assets[asset_id] = asset
        return httpx.Response(200, json=asset)
