"""A small Python handle on a running emulator's control API, for tests and the demo."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from c2c_hub.emulation.errors import EmulationError


class ControlError(EmulationError, RuntimeError):
    """The control API refused a call; the message says why."""


class EmulatorHandle:
    """Drive the emulator as Frame.io's web app and a test harness would."""

    def __init__(self, base_url: str, control_url: str, ca_file: Path, client_secret: str) -> None:
        self.base_url = base_url
        self.control_url = control_url
        self.ca_file = ca_file
        self.client_secret = client_secret
        self._http = httpx.Client(
            base_url=control_url, verify=ssl.create_default_context(cafile=str(ca_file)), timeout=30
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=json)
        if response.status_code >= 400:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text
            raise ControlError(f"{method} {path}: {response.status_code} {reason}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    # --- what the user does in Frame.io's web app
    def pending_pairings(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/pairings")
        return result

    def approve(self, user_code: str) -> None:
        self._call("POST", f"/pairings/{user_code}/approve")

    def deny(self, user_code: str) -> None:
        self._call("POST", f"/pairings/{user_code}/deny")

    def pause(self, device: str = "only", channel_id: str | None = None) -> None:
        suffix = f"/channels/{channel_id}" if channel_id else ""
        self._call("POST", f"/devices/{device}{suffix}/pause")

    def resume(self, device: str = "only", channel_id: str | None = None) -> None:
        suffix = f"/channels/{channel_id}" if channel_id else ""
        self._call("POST", f"/devices/{device}{suffix}/resume")

    def revoke_device(self, device: str = "only") -> None:
        """The user revokes the device's authorization: every token it holds stops working."""
        self._call("POST", f"/devices/{device}/revoke")

    def remove_device(self, device: str = "only") -> None:
        """The user removes the device from the project (its tokens die with it)."""
        self._call("POST", f"/devices/{device}/remove")

    def rename_project(self, name: str) -> None:
        self._call("POST", "/project", {"name": name})

    # --- time and faults
    def advance(self, seconds: float) -> float:
        now: float = self._call("POST", "/clock/advance", {"seconds": seconds})["now"]
        return now

    def fault(self, target: str, kind: str = "status", **spec: Any) -> dict[str, Any]:
        """Queue a fault, e.g. ``fault("part", code="SlowDown", count=2)``."""
        result: dict[str, Any] = self._call(
            "POST", "/faults", {"target": target, "kind": kind, **spec}
        )
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def drop_sockets(self, device_id: str | None = None) -> int:
        dropped: int = self._call("POST", "/sockets/drop", {"device_id": device_id})["dropped"]
        return dropped

    def configure(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", "/config", settings)
        return result

    def reset(self) -> None:
        self._call("POST", "/reset")

    def declare_device_model(self, toml_text: str) -> bool:
        """Declare a device model file's model for the integration (a plugin's); True if new."""
        added: bool = self._call("POST", "/device-models", {"toml": toml_text})["added"]
        return added

    # --- what a test reads
    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def devices(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["devices"]
        return result

    def assets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["assets"]
        return result

    def asset(self, asset_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/assets/{asset_id}")
        return result

    def asset_content(self, asset_id: str) -> bytes:
        content: bytes = self._call("GET", f"/assets/{asset_id}/content")
        return content

    def violations(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["violations"]
        return result

    def requests(self, path: str = "") -> list[dict[str, Any]]:
        """The /v2 calls received, optionally only those whose path starts with ``path``."""
        result: list[dict[str, Any]] = self._call("GET", f"/requests?path={path}")
        return result

    def clear_violations(self) -> None:
        self._call("DELETE", "/violations")

    def log_events(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.state()["log_events"]
        return result

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
