"""Typed shapes of what Frame.io's C2C API sends and receives (pydantic v2).

Response models ignore fields they do not name (Frame.io adds fields freely) and fail only on
what the hub relies on. Secrets (tokens, the device code) are ``SecretStr`` so that a model's
repr or a log line never shows them; call ``.get_secret_value()`` to use one.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


def _all_https(urls: list[str]) -> list[str]:
    for index, url in enumerate(urls):
        if not url.lower().startswith("https://"):
            raise ValueError(f"upload URL #{index} is not https:// (Frame.io is HTTPS only)")
    return urls


class FrameioModel(BaseModel):
    """Base of the response models: unknown fields ignored, instances immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DeviceCode(FrameioModel):
    """``POST /v2/auth/device/code``: what to show the user, and what to poll with."""

    device_code: SecretStr
    user_code: str
    expires_in: int
    interval: float = 5.0
    name: str | None = None
    verification_uri: str
    verification_uri_complete: str | None = None


class TokenSet(FrameioModel):
    """``POST /v2/auth/token``: a new access token and (rotating, single-use) refresh token."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int
    token_type: str = "bearer"


class Health(FrameioModel):
    """``GET /health``: ``{"ok": true}`` (an older spec shows ``{"status": "ok"}``)."""

    ok: bool | None = None
    status: str | None = None

    @property
    def healthy(self) -> bool:
        return bool(self.ok) or (self.status or "").lower() == "ok"


class Project(FrameioModel):
    type_: str | None = Field(default=None, alias="_type")
    id: str
    name: str | None = None


class User(FrameioModel):
    type_: str | None = Field(default=None, alias="_type")
    id: str | None = None
    name: str | None = None


class Scopes(FrameioModel):
    """The authorization's scopes; a hardware device only ever has these two."""

    asset_create: bool = False
    offline: bool = False


class Authorization(FrameioModel):
    """``project_device_authorization``: who paired the device, and until when."""

    type_: str | None = Field(default=None, alias="_type")
    id: str | None = None
    creator: User | None = None
    creator_id: str | None = None
    expires_at: datetime | None = None
    project_device_id: str | None = None
    scopes: Scopes | None = None


class Channel(FrameioModel):
    """``project_device_channel``: one data source of the project device."""

    type_: str | None = Field(default=None, alias="_type")
    id: str
    external_index: int
    name: str | None = None
    device_id: str | None = None
    actor_id: str | None = None
    asset_type: str | None = None
    project_id: str | None = None
    project_device_id: str | None = None
    real_time_logging_capable: bool = False
    status: str | None = None
    inserted_at: datetime | None = None
    updated_at: datetime | None = None


class ProjectDevice(FrameioModel):
    """``GET /v2/devices/me``: this device's connection to its project."""

    type_: str | None = Field(default=None, alias="_type")
    id: str
    name: str | None = None
    status: str | None = None  # online | offline | paused
    asset_type: str | None = None
    device_id: str | None = None
    project_id: str | None = None
    project: Project  # the hub shows the connected project (checklist); always sent
    authorization: Authorization | None = None
    channels: list[Channel] = Field(default_factory=list)
    channel_count: int | None = None
    creator_id: str | None = None
    last_known_firmware_version: str | None = None
    last_seen_at: datetime | None = None
    timezone: str | None = None
    path_name: str | None = None
    path_asset_type: str | None = None
    required_metadata_attributes: list[str] = Field(default_factory=list)
    inserted_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return (self.status or "").lower() == "paused"


class Asset(FrameioModel):
    """``POST /v2/devices/assets``. A real-time create answers only ``id`` and ``name``."""

    type_: str | None = Field(default=None, alias="_type")
    id: str
    name: str | None = None
    filetype: str | None = None
    filesize: int | None = None
    upload_urls: list[str] = Field(default_factory=list)
    status: str | None = None
    project_id: str | None = None
    parent_id: str | None = None
    inserted_at: datetime | None = None

    _https = field_validator("upload_urls")(_all_https)


class RealtimeParts(FrameioModel):
    """``POST .../realtime_upload/parts``: one URL per requested part, in request order."""

    upload_urls: list[str]

    _https = field_validator("upload_urls")(_all_https)


class Comment(FrameioModel):
    """``POST /v2/devices/assets/{asset_id}/comments``."""

    type_: str | None = Field(default=None, alias="_type")
    id: str
    text: str | None = None
    timestamp: int | None = None
    asset_id: str | None = None
    owner_id: str | None = None
    device_channel_input_id: str | None = None
    inserted_at: datetime | None = None
    updated_at: datetime | None = None


# ---- request bodies ------------------------------------------------------------------------


class RequestModel(BaseModel):
    """Base of the request bodies: unknown fields refused (a typo must not be sent silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PartRequest(RequestModel):
    """One real-time part: ``number`` 1..10,000; ``size`` >= 5 MiB unless ``is_final``."""

    number: int = Field(ge=1, le=10_000)
    size: int = Field(ge=0)
    is_final: bool = False


class Rate(RequestModel):
    """A frame rate: ``playback`` ``[num, den]`` (or ``"num/den"``); ``ntsc`` ``non_drop``/None."""

    playback: tuple[int, int] | str
    ntsc: str | None = None


class SmpteTime(RequestModel):
    smpte_timecode: str
    rate: Rate


class LogTrigger(RequestModel):
    """Body of a real-time logging trigger; every field optional (only set fields are sent)."""

    action_type: str | None = None
    offset: int | None = Field(default=None, ge=0)
    start: SmpteTime | None = None
    duration: SmpteTime | None = None
