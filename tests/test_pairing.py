"""Pairing against the emulator: approved, denied, expired, slowed down, and cancelled at every
step without leaving half a pairing behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from c2c_hub.clock import ManualClock
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.pairing import Pairing, PairingCancelled, PairingDenied, PairingStep, PairingUpdate
from c2c_hub.session import Session
from c2c_hub.settings import FrameioSettings
from c2c_hub.tokens import PairingState, TokenStore


class Recorder:
    def __init__(self) -> None:
        self.updates: list[PairingUpdate] = []

    def __call__(self, update: PairingUpdate) -> None:
        self.updates.append(update)

    def steps(self) -> list[PairingStep]:
        return [u.step for u in self.updates]

    async def wait_for(
        self, step: PairingStep, within: float = 15.0, codes_issued: int | None = None
    ) -> PairingUpdate:
        """The first update at ``step`` (and, if given, with the ``codes_issued``-th code)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for update in self.updates:
                if update.step is step and codes_issued in (None, update.codes_issued):
                    return update
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {step} (code number {codes_issued}) in {self.steps()}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def setup(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> AsyncIterator[tuple[Pairing, Session, Recorder]]:
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        session = Session(client, TokenStore(tmp_path / "creds"), frameio_settings)
        pairing = Pairing(client, session, frameio_settings, max_codes=3)
        recorder = Recorder()
        pairing.subscribe(recorder)
        yield pairing, session, recorder


async def test_approved_pairing_stores_tokens_and_shows_the_project(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle
) -> None:
    pairing, session, recorder = setup
    task = pairing.start()
    shown = await recorder.wait_for(PairingStep.SHOW_CODE)
    assert shown.user_code is not None and len(shown.user_code) == 6
    assert shown.verification_uri_complete and shown.user_code in shown.verification_uri_complete
    await recorder.wait_for(PairingStep.WAITING)
    emulator.approve(shown.user_code)
    device = await asyncio.wait_for(task, 30)
    assert device.project.name == "Emulated Project"
    assert device.authorization is not None and device.authorization.creator is not None
    assert device.authorization.creator.name == "Emulated User"
    assert recorder.steps()[-1] is PairingStep.APPROVED
    assert session.state is PairingState.PAIRED
    assert session.store.load() is not None
    assert emulator.violations() == []
    # no update ever carries the device code or a token
    for update in recorder.updates:
        assert "device_code" not in repr(update)


async def test_denied_pairing_ends_cleanly(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle
) -> None:
    pairing, session, recorder = setup
    task = pairing.start()
    shown = await recorder.wait_for(PairingStep.SHOW_CODE)
    assert shown.user_code is not None
    emulator.deny(shown.user_code)
    with pytest.raises(PairingDenied):
        await asyncio.wait_for(task, 30)
    assert recorder.steps()[-1] is PairingStep.DENIED
    assert session.state is PairingState.UNPAIRED and session.store.load() is None


async def test_an_expired_code_is_replaced_by_a_fresh_one(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle
) -> None:
    pairing, session, recorder = setup
    emulator.configure(device_code_ttl=0.3)
    task = pairing.start()
    first = await recorder.wait_for(PairingStep.SHOW_CODE)
    await recorder.wait_for(PairingStep.EXPIRED)
    fresh = await recorder.wait_for(PairingStep.SHOW_CODE, codes_issued=2)  # takes a call
    assert fresh.user_code != first.user_code
    emulator.configure(device_code_ttl=120)
    assert fresh.user_code is not None
    emulator.approve(fresh.user_code)
    await asyncio.wait_for(task, 30)
    assert session.state is PairingState.PAIRED


async def test_expiry_keeps_issuing_codes_until_the_limit(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle
) -> None:
    pairing, session, recorder = setup
    emulator.configure(device_code_ttl=0.2)
    with pytest.raises(PairingCancelled, match="3 codes"):
        await asyncio.wait_for(pairing.run(), 10)
    assert recorder.steps().count(PairingStep.SHOW_CODE) == 3
    assert session.store.load() is None


async def test_slow_down_makes_the_hub_poll_less_often(
    emulator: EmulatorHandle, frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with make_http_client(frameio_settings) as http:
        client = FrameioClient.from_settings(frameio_settings, http)
        session = Session(client, TokenStore(tmp_path), frameio_settings, clock=clock)
        pairing = Pairing(client, session, frameio_settings, clock=clock)
        recorder = Recorder()
        pairing.subscribe(recorder)
        emulator.fault("api", oauth_error="slow_down", path_prefix="/v2/auth/token", count=1)
        task = pairing.start()
        shown = await recorder.wait_for(PairingStep.SHOW_CODE)
        assert shown.interval == pytest.approx(0.05)
        # drive the hub's clock in small steps until the slow_down arrives
        while PairingStep.SLOWED not in recorder.steps():
            clock.advance(0.05)
            await asyncio.sleep(0.01)
        slowed = await recorder.wait_for(PairingStep.SLOWED)
        assert slowed.interval == pytest.approx(5.05)
        polls_before = len(emulator.requests("/v2/auth/token"))
        clock.advance(4.0)
        await asyncio.sleep(0.1)
        assert len(emulator.requests("/v2/auth/token")) == polls_before, "polled too early"
        assert shown.user_code is not None
        emulator.approve(shown.user_code)
        while not task.done():
            clock.advance(0.5)
            await asyncio.sleep(0.01)
        await task
        assert session.state is PairingState.PAIRED


@pytest.mark.parametrize("step", [PairingStep.REQUESTING, PairingStep.WAITING])
async def test_cancel_before_approval_leaves_nothing(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle, step: PairingStep
) -> None:
    pairing, session, recorder = setup
    if step is PairingStep.REQUESTING:
        emulator.fault("api", kind="stall", seconds=3, path_prefix="/v2/auth/device/code")
    task = pairing.start()
    await recorder.wait_for(step)
    assert pairing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.steps()[-1] is PairingStep.CANCELLED
    assert session.state is PairingState.UNPAIRED and session.store.load() is None


async def test_cancel_after_approval_revokes_and_wipes(
    setup: tuple[Pairing, Session, Recorder], emulator: EmulatorHandle
) -> None:
    pairing, session, recorder = setup
    # the identity call after the tokens arrive hangs: the user cancels right then
    emulator.fault("api", kind="stall", seconds=2, path_prefix="/v2/devices/me")
    task = pairing.start()
    shown = await recorder.wait_for(PairingStep.SHOW_CODE)
    assert shown.user_code is not None
    emulator.approve(shown.user_code)
    for _ in range(500):  # the identity call has reached Frame.io (and hangs there)
        if emulator.requests("/v2/devices/me"):
            break
        await asyncio.sleep(0.01)
    pairing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.state is PairingState.UNPAIRED and session.store.load() is None
    revokes = emulator.requests("/v2/auth/revoke")
    assert len(revokes) == 1
