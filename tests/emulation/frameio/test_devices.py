"""The emulator's device endpoints over real HTTPS: identity, heartbeat, health, channels
(docs/rulings.md#channel-boot-flow), real-time logging (docs/rulings.md#trigger-inputs)
and comments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from c2c_hub.device_models import DeviceKind, DeviceModel, DeviceModelRegistry, shipped_models_dir
from c2c_hub.emulation.frameio.handle import ControlError, EmulatorHandle
from tests.helpers import VERSION_HEADER, bearer, frameio_client, pair_raw, refresh

MODELS = DeviceModelRegistry.load(shipped_models_dir())
HOST = MODELS.host()
MIC = MODELS.of_kind(DeviceKind.MICROPHONE)[0]
REMOTE = MODELS.of_kind(DeviceKind.BUTTON_REMOTE)[0]
CONNECT_PATHS = ["/v2/devices/channels/connect", "/v2/devices/channels"]  # both accepted


class Device:
    """A paired device speaking to the emulator's Frame.io surface."""

    def __init__(self, http: httpx.Client, paired: dict[str, str]) -> None:
        self.http = http
        self.id = paired["device_id"]
        self.client_id = paired["client_id"]
        self.headers = bearer(paired["access_token"])

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.headers)

    def me(self) -> dict[str, Any]:
        response = self.get("/v2/devices/me")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def channels(self) -> list[dict[str, Any]]:
        channels: list[dict[str, Any]] = self.me()["channels"]
        return channels

    def connect(
        self, model: DeviceModel, client_id: str | None = None, path: str = CONNECT_PATHS[0]
    ) -> httpx.Response:
        body = {"client_id": client_id or f"sub-{uuid.uuid4()}", "device_model_id": model.id}
        return self.post(path, body)

    def connected(self, model: DeviceModel, client_id: str | None = None) -> dict[str, Any]:
        response = self.connect(model, client_id)
        assert response.status_code == 200, response.text
        channel: dict[str, Any] = response.json()
        return channel

    def trigger(
        self, channel_id: str, index: int, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return self.post(f"/v2/devices/channels/{channel_id}/inputs/{index}/trigger", body)


@pytest.fixture
def device(emulator: EmulatorHandle) -> Iterator[Device]:
    paired = pair_raw(emulator)
    with frameio_client(emulator) as http:
        yield Device(http, paired)


def _detailed(response: httpx.Response, status: int) -> dict[str, Any]:
    """Frame.io's detailed error shape, with the expected status."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == status
    assert body["errors"][0]["status"] == status and body["errors"][0]["code"] == status
    assert isinstance(body["message"], str)
    return body


# --------------------------------------------------------------------------- identity


def test_me_has_the_documented_shape(device: Device, emulator: EmulatorHandle) -> None:
    me = device.me()
    assert me["_type"] == "project_device"
    assert me["id"] == device.id
    assert me["project"]["_type"] == "project"
    assert me["project"]["name"] == "Emulated Project"
    assert me["project"]["id"] == me["project_id"]
    assert me["status"] == "online"
    assert me["last_known_firmware_version"] == VERSION_HEADER["x-client-version"]
    auth = me["authorization"]
    assert auth["_type"] == "project_device_authorization"
    assert auth["creator"]["_type"] == "user" and auth["creator"]["name"] == "Emulated User"
    assert auth["project_device_id"] == device.id
    granted = {k for k, v in auth["scopes"].items() if k != "id" and v is not False}
    assert granted == {"asset_create", "offline"}
    assert auth["scopes"]["asset_create"] is True and auth["scopes"]["offline"] is True
    assert len(auth["scopes"]) > 30  # every documented scope key is present
    [primary] = me["channels"]
    assert primary["_type"] == "project_device_channel"
    assert primary["external_index"] == 0
    assert primary["project_device_id"] == device.id
    assert primary["device_id"] == me["device_id"]  # the primary channel is the device
    assert primary["asset_type"] == HOST.model.asset_type
    assert me["channel_count"] == 1


def test_project_rename_shows_in_me_with_the_same_project_id(
    device: Device, emulator: EmulatorHandle
) -> None:
    before = device.me()
    emulator.rename_project("Day 12 — Unit B")
    after = device.me()
    assert after["project"]["name"] == "Day 12 — Unit B"
    assert after["project"]["id"] == before["project"]["id"] == after["project_id"]


def test_heartbeat_answers_204_and_is_recorded(device: Device, emulator: EmulatorHandle) -> None:
    response = device.post("/v2/devices/heartbeat")
    assert response.status_code == 204
    assert response.content == b""
    assert [h["device_id"] for h in emulator.state()["heartbeats"]] == [device.id]


def test_heartbeat_needs_a_token(device: Device) -> None:
    response = device.http.post("/v2/devices/heartbeat", headers=VERSION_HEADER)
    _detailed(response, 401)


def test_health_answers_ok_without_auth(emulator: EmulatorHandle) -> None:
    with frameio_client(emulator) as http:
        response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


# --------------------------------------------------------------------------- channels


@pytest.mark.parametrize("path", CONNECT_PATHS)
def test_connect_channel_on_both_paths(device: Device, path: str) -> None:
    response = device.connect(MIC, "mic-serial-0001", path=path)
    assert response.status_code == 200, response.text
    channel = response.json()
    assert channel["_type"] == "project_device_channel"
    assert channel["external_index"] == 1
    assert channel["asset_type"] == MIC.model.asset_type
    assert channel["real_time_logging_capable"] is False
    assert channel["project_device_id"] == device.id
    assert [c["id"] for c in device.channels()][1:] == [channel["id"]]


def test_connect_button_remote_is_real_time_logging_capable(device: Device) -> None:
    channel = device.connected(REMOTE)
    assert channel["real_time_logging_capable"] is True
    assert channel["asset_type"] == REMOTE.model.asset_type


def test_connect_unknown_device_model_is_422(device: Device) -> None:
    response = device.post(
        CONNECT_PATHS[0], {"client_id": "sub-1", "device_model_id": str(uuid.uuid4())}
    )
    _detailed(response, 422)
    assert len(device.channels()) == 1


@pytest.mark.parametrize("missing", ["client_id", "device_model_id"])
def test_connect_without_a_required_field_is_refused(device: Device, missing: str) -> None:
    body = {"client_id": "sub-1", "device_model_id": MIC.id}
    del body[missing]
    response = device.post(CONNECT_PATHS[0], body)
    assert 400 <= response.status_code < 500
    assert len(device.channels()) == 1


def test_connect_same_client_id_again_is_409_already_exists(device: Device) -> None:
    device.connected(MIC, "mic-serial-0001")
    body = _detailed(device.connect(MIC, "mic-serial-0001"), 409)
    assert body["errors"][0]["title"] == "Already Exists"
    assert len(device.channels()) == 2


def test_client_id_alone_governs_channel_uniqueness(device: Device) -> None:
    """Seed 002: "The client_id is what governs uniqueness"."""
    device.connected(MIC, "sub-serial-0001")
    body = _detailed(device.connect(REMOTE, "sub-serial-0001"), 409)
    assert body["errors"][0]["title"] == "Already Exists"
    assert len(device.channels()) == 2


def test_disconnect_channel_by_id_is_204(device: Device) -> None:
    channel = device.connected(MIC)
    response = device.post(f"/v2/devices/channels/{channel['id']}/disconnect")
    assert response.status_code == 204
    assert response.content == b""
    assert [c["external_index"] for c in device.channels()] == [0]


def test_disconnect_unknown_channel_is_404(device: Device) -> None:
    _detailed(device.post(f"/v2/devices/channels/{uuid.uuid4()}/disconnect"), 404)


def test_disconnect_twice_is_404(device: Device) -> None:
    channel = device.connected(MIC)
    assert device.post(f"/v2/devices/channels/{channel['id']}/disconnect").status_code == 204
    _detailed(device.post(f"/v2/devices/channels/{channel['id']}/disconnect"), 404)


def test_disconnect_primary_channel_is_422(device: Device) -> None:
    [primary] = device.channels()
    _detailed(device.post(f"/v2/devices/channels/{primary['id']}/disconnect"), 422)
    assert [c["id"] for c in device.channels()] == [primary["id"]]


def test_bulk_disconnect_leaves_only_the_primary_channel(device: Device) -> None:
    [primary] = device.channels()
    device.connected(MIC)
    device.connected(REMOTE)
    assert len(device.channels()) == 3
    response = device.post("/v2/devices/channels/disconnect")
    assert response.status_code == 204
    assert [c["id"] for c in device.channels()] == [primary["id"]]


def test_bulk_disconnect_with_no_sub_channels_still_succeeds(device: Device) -> None:
    assert device.post("/v2/devices/channels/disconnect").status_code == 204
    assert len(device.channels()) == 1


def test_reconnect_after_disconnect_restores_the_same_channel(device: Device) -> None:
    first = device.connected(MIC, "mic-serial-0001")
    assert device.post(f"/v2/devices/channels/{first['id']}/disconnect").status_code == 204
    again = device.connected(MIC, "mic-serial-0001")
    assert again["id"] == first["id"]
    assert again["external_index"] == first["external_index"]
    assert [c["id"] for c in device.channels()][1:] == [first["id"]]


def test_channels_of_one_device_are_not_visible_to_another(
    device: Device, emulator: EmulatorHandle
) -> None:
    channel = device.connected(MIC)
    other = Device(device.http, pair_raw(emulator))
    _detailed(other.post(f"/v2/devices/channels/{channel['id']}/disconnect"), 404)
    assert len(device.channels()) == 2


# --------------------------------------------------------------------------- real-time logging

TRIGGER: dict[str, Any] = {
    "action_type": "single_press",
    "offset": 0,
    "start": {
        "smpte_timecode": "01:00:00:00",
        "rate": {"playback": [24000, 1001], "ntsc": "non_drop"},
    },
    "duration": {"smpte_timecode": "00:00:00:01", "rate": {"playback": [24, 1], "ntsc": None}},
}


def test_trigger_on_a_declared_input_is_204_and_recorded(
    device: Device, emulator: EmulatorHandle
) -> None:
    remote = device.connected(REMOTE, "remote-serial-01")
    declared = REMOTE.inputs[0]
    response = device.trigger(remote["id"], declared.index, TRIGGER)
    assert response.status_code == 204, response.text
    [event] = emulator.log_events()
    assert event["channel_id"] == remote["id"]
    assert event["channel_client_id"] == "remote-serial-01"
    assert event["input_index"] == declared.index
    assert event["input_name"] == declared.name
    assert event["start"] == TRIGGER["start"]


def test_trigger_without_a_body_is_accepted(device: Device, emulator: EmulatorHandle) -> None:
    """Every field of the trigger body is optional."""
    remote = device.connected(REMOTE)
    assert device.trigger(remote["id"], REMOTE.inputs[-1].index).status_code == 204
    assert len(emulator.log_events()) == 1


def test_trigger_on_an_undeclared_input_is_422(device: Device, emulator: EmulatorHandle) -> None:
    remote = device.connected(REMOTE)
    undeclared = max(i.index for i in REMOTE.inputs) + 1
    _detailed(device.trigger(remote["id"], undeclared, TRIGGER), 422)
    assert emulator.log_events() == []


@pytest.mark.parametrize("model", [MIC, HOST], ids=["microphone", "host-primary"])
def test_trigger_on_a_channel_not_capable_of_logging_is_422(
    device: Device, emulator: EmulatorHandle, model: DeviceModel
) -> None:
    assert not model.model.real_time_logging_capable
    if model is HOST:
        channel_id = device.channels()[0]["id"]
    else:
        channel_id = device.connected(model)["id"]
    _detailed(device.trigger(channel_id, 0, TRIGGER), 422)
    assert emulator.log_events() == []


def test_trigger_on_a_disconnected_channel_is_404(device: Device, emulator: EmulatorHandle) -> None:
    remote = device.connected(REMOTE)
    assert device.post(f"/v2/devices/channels/{remote['id']}/disconnect").status_code == 204
    _detailed(device.trigger(remote["id"], 0, TRIGGER), 404)
    assert emulator.log_events() == []


@pytest.mark.parametrize(
    "timecode", ["01:00:00", "aa:bb:cc:dd", "01:00:00:00:00", "25:00:00:00", "01:61:00:00", ""]
)
def test_trigger_with_a_malformed_start_timecode_is_422(
    device: Device, emulator: EmulatorHandle, timecode: str
) -> None:
    remote = device.connected(REMOTE)
    body = {**TRIGGER, "start": {**TRIGGER["start"], "smpte_timecode": timecode}}
    _detailed(device.trigger(remote["id"], 0, body), 422)
    assert emulator.log_events() == []


@pytest.mark.parametrize(
    "rate",
    [
        {"playback": [24, 0]},
        {"playback": "fast"},
        {"playback": "a/b"},
        {"playback": [24, 1], "ntsc": "sometimes"},
    ],
    ids=["zero-denominator", "not-a-ratio", "non-numeric-ratio", "unknown-ntsc"],
)
def test_trigger_with_a_malformed_rate_is_422(
    device: Device, emulator: EmulatorHandle, rate: dict[str, Any]
) -> None:
    remote = device.connected(REMOTE)
    body = {**TRIGGER, "start": {"smpte_timecode": "01:00:00:00", "rate": rate}}
    _detailed(device.trigger(remote["id"], 0, body), 422)
    assert emulator.log_events() == []


@pytest.mark.parametrize("playback", [[30000, 1001], "30000/1001"], ids=["pair", "string"])
def test_trigger_with_drop_frame_timecode_is_accepted(device: Device, playback: object) -> None:
    remote = device.connected(REMOTE)
    start = {"smpte_timecode": "01:00:00;02", "rate": {"playback": playback, "ntsc": "drop_frame"}}
    assert device.trigger(remote["id"], 0, {"start": start}).status_code == 204


def test_trigger_with_an_unknown_action_type_is_422(device: Device) -> None:
    remote = device.connected(REMOTE)
    _detailed(device.trigger(remote["id"], 0, {"action_type": "double_press"}), 422)


# --------------------------------------------------------------------------- comments


def _asset(device: Device) -> str:
    response = device.post(
        "/v2/devices/assets", {"name": "take1.wav", "filetype": "audio/wav", "filesize": 1000}
    )
    assert response.status_code == 200, response.text
    asset_id: str = response.json()["id"]
    return asset_id


def test_comment_on_an_asset_is_stored(device: Device, emulator: EmulatorHandle) -> None:
    asset_id = _asset(device)
    response = device.post(
        f"/v2/devices/assets/{asset_id}/comments", {"text": "Good take", "timestamp": 24}
    )
    assert response.status_code == 200, response.text
    comment = response.json()
    assert comment["_type"] == "comment"
    assert comment["text"] == "Good take" and comment["timestamp"] == 24
    assert comment["asset_id"] == asset_id
    assert [c["id"] for c in emulator.asset(asset_id)["comments"]] == [comment["id"]]


def test_comment_without_timestamp_is_asset_global(device: Device) -> None:
    asset_id = _asset(device)
    response = device.post(f"/v2/devices/assets/{asset_id}/comments", {"text": "Noisy room"})
    assert response.status_code == 200, response.text
    assert response.json()["timestamp"] is None


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "x", "timestamp": -1}], ids=["no-text", "empty", "negative"]
)
def test_comment_that_breaks_the_contract_is_400(
    device: Device, emulator: EmulatorHandle, body: dict[str, Any]
) -> None:
    asset_id = _asset(device)
    _detailed(device.post(f"/v2/devices/assets/{asset_id}/comments", body), 400)
    assert emulator.asset(asset_id)["comments"] == []


def test_comment_on_an_unknown_asset_is_404(device: Device) -> None:
    _detailed(device.post(f"/v2/devices/assets/{uuid.uuid4()}/comments", {"text": "x"}), 404)


def test_comment_on_another_devices_asset_is_404(device: Device, emulator: EmulatorHandle) -> None:
    asset_id = _asset(device)
    other = Device(device.http, pair_raw(emulator))
    _detailed(other.post(f"/v2/devices/assets/{asset_id}/comments", {"text": "x"}), 404)


# ------------------------------------------------------------- the channels guide's numbering


def test_index_mode_zero_on_connect_answers_0_and_me_lists_the_real_number(
    device: Device, emulator: EmulatorHandle
) -> None:
    emulator.configure(channel_index_mode="zero_on_connect")
    answered = device.connected(MIC)
    assert answered["external_index"] == 0  # as the channels guide's connect example shows
    listed = {c["id"]: c for c in device.channels()}
    assert listed[answered["id"]]["external_index"] == 1
    asset = device.post(
        "/v2/devices/assets",
        {"name": "a.wav", "filetype": "audio/wav", "filesize": 10, "channel": 1},
    )
    assert asset.status_code == 200, asset.text
    assert emulator.asset(asset.json()["id"])["channel"] == 1


def test_index_mode_zero_numbers_every_sub_device_0_and_keeps_the_primary_apart(
    device: Device, emulator: EmulatorHandle
) -> None:
    emulator.configure(channel_index_mode="zero")
    me_device_id = device.me()["device_id"]
    mic = device.connected(MIC)
    assert mic["external_index"] == 0
    channels = device.channels()
    assert [c["external_index"] for c in channels] == [0, 0]
    (primary,) = [c for c in channels if c["device_id"] == me_device_id]
    assert primary["actor_id"] is not None and mic["actor_id"] is None
    _detailed(device.post(f"/v2/devices/channels/{primary['id']}/disconnect"), 422)
    assert device.post(f"/v2/devices/channels/{mic['id']}/disconnect").status_code == 204
    device.connected(MIC)
    assert device.post("/v2/devices/channels/disconnect").status_code == 204
    assert [c["id"] for c in device.channels()] == [primary["id"]]


def test_an_unknown_index_mode_is_refused(emulator: EmulatorHandle) -> None:
    with pytest.raises(ControlError, match="channel_index_mode"):
        emulator.configure(channel_index_mode="sometimes")


@pytest.mark.parametrize("action", ["revoke_device", "remove_device"])
def test_a_revoked_or_removed_device_is_refused_and_cannot_refresh(
    emulator: EmulatorHandle, action: str
) -> None:
    paired = pair_raw(emulator)
    with frameio_client(emulator) as http:
        assert http.get("/v2/devices/me", headers=bearer(paired["access_token"])).is_success
        getattr(emulator, action)(paired["device_id"])
        _detailed(http.get("/v2/devices/me", headers=bearer(paired["access_token"])), 401)
        again = refresh(http, emulator, paired["client_id"], paired["refresh_token"])
        assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
    assert (action == "remove_device") == (emulator.devices() == [])
