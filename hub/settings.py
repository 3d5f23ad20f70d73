"""The hub's settings: one pydantic-settings model.

Sources, highest priority first: keyword arguments, environment variables (prefix ``C2C_HUB_``,
nested sections joined by ``__``, e.g. ``C2C_HUB_FRAMEIO__API_BASE_URL``), a TOML file (path in
``C2C_HUB_CONFIG`` or passed to :func:`load_settings`), then the defaults below.

Every field is validated at start; :class:`SettingsError` names the field and what is wrong, and
never echoes a secret's value.
"""

from __future__ import annotations

import grp
import importlib.util
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from c2c_hub.errors import HubError
from c2c_hub.version import __version__

ENV_PREFIX = "C2C_HUB_"
CONFIG_ENV = "C2C_HUB_CONFIG"

# Semantic Versioning 2.0.0 (the regular expression published at semver.org).
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def default_data_dir() -> Path:
    """Where the hub keeps its state (tokens, queue): see :mod:`c2c_hub.locations`."""
    from c2c_hub.locations import default_data_dir as located

    return located()


class SettingsError(HubError, ValueError):
    """Settings that cannot be used, with every problem spelled out by field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FrameioSettings(_Section):
    """How the hub reaches Frame.io."""

    api_base_url: str = Field(
        default="https://api.frame.io",
        description="Frame.io's C2C API. Must be https://; plain http is refused.",
    )
    client_id: str = Field(
        default="",
        description="This unit's stable client_id: a serial or persisted UUID, never PII or a MAC.",
    )
    client_secret: SecretStr = Field(
        default=SecretStr(""),
        description="The integration's client_secret issued by Frame.io. Never logged. Against "
        "Frame.io itself (the default api_base_url) it must come from a credential file "
        "instead (client_secret_file, or the systemd credential frameio-client-secret).",
    )
    client_secret_file: Path | None = Field(
        default=None,
        description="File holding the client secret (and nothing else), owned by the hub's user "
        "and readable by it only (0400/0600).",
    )
    firmware_version: str = Field(
        default=__version__,
        description="Sent as x-client-version on every call; semantic version.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="Extra CA to trust (the emulator's); the system store otherwise.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout in seconds.")
    url_pairing: bool = Field(
        default=True,
        description="Ask for URL/QR pairing (x-client-platypus-enabled) when requesting a code.",
    )

    @field_validator("api_base_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.lower().startswith("https://"):
            raise ValueError(f"must start with https:// (Frame.io is HTTPS only), got {value!r}")
        if len(value) <= len("https://"):
            raise ValueError("has no host")
        return value

    @field_validator("firmware_version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER_RE.match(value):
            raise ValueError(f"must be a semantic version like 2.0.0, got {value!r}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class StorageSettings(_Section):
    """Where the hub keeps its own state."""

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory for tokens (encrypted) and the upload queue; created mode 0700.",
    )
    key_provider: Literal["auto", "systemd-credential", "secret-service", "file"] = Field(
        default="auto",
        description="Where the key that encrypts the tokens lives: a systemd credential "
        "(c2c-hub-token-key), the Secret Service keyring, or a key file outside data_dir; "
        "auto takes the first the system has.",
    )
    key_file: Path | None = Field(
        default=None,
        description="The key file of the file provider; by default "
        "$XDG_CONFIG_HOME/c2c-hub/keys/<id>.key, never inside the credentials folder.",
    )


def _shipped_models_dir() -> Path:
    """The device models shipped with the hub (as
    :func:`c2c_hub.device_models.shipped_models_dir` finds them), without importing that module:
    its pydantic models cost a process that only reads its settings, such as the standalone
    uploader, about 0.08 s of CPU."""
    spec = importlib.util.find_spec("c2c_hub.device_models_data")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise SettingsError("the hub's own device models (c2c_hub.device_models_data) are missing")
    return Path(next(iter(spec.submodule_search_locations)))


class DeviceModelSettings(_Section):
    """Which device model files describe this integration."""

    directory: Path = Field(
        default_factory=_shipped_models_dir,
        description="Directory of device model TOML files (one per model).",
    )


def default_recordings_dir() -> Path:
    """Where takes are written: user-accessible, outside the hub's private state."""
    return Path.home() / "c2c-hub-recordings"


class TrackPin(_Section):
    """One sub-device's place in every take: a fixed track number and a name the operator
    gives (either may be left out)."""

    track: int | None = Field(default=None, ge=1, le=999, description="Its track number.")
    name: str | None = Field(
        default=None, min_length=1, max_length=64, description="Its name (track, channel)."
    )


class MixTrackSettings(_Section):
    """One track's place in the mix (``[recorder.mix.tracks."<serial or name>"]``)."""

    gain_db: float = Field(default=0.0, ge=-120, le=24, description="Gain in dB.")
    pan: float = Field(default=0.0, ge=-1, le=1, description="-1 left, 0 centre, 1 right.")
    mute: bool = Field(default=False, description="Left out of the mix.")


class MixSection(_Section):
    """``[recorder.mix]``: the mix of every track, uploaded on the primary channel."""

    enabled: bool = Field(default=True, description="Write and upload a mix of every track.")
    mode: Literal["mono", "stereo"] = Field(default="stereo", description="mono or stereo.")
    tracks: dict[str, MixTrackSettings] = Field(
        default_factory=dict,
        description="Per track, by serial or name: gain_db, pan, mute (unity, centre if unset).",
    )


PROXY_BITRATES = (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


class ProxySection(_Section):
    """``[recorder.proxy]``: MP3 copies for cellular uplinks, uploaded ahead of their heroes."""

    enabled: bool = Field(default=True, description="Encode and upload MP3 proxies.")
    bitrate_kbps: int = Field(default=128, description="Constant bit rate (kbit/s).")
    files: list[Literal["mix", "iso"]] = Field(
        default=["mix"],
        description=(
            "Which heroes get a proxy: the mix's by default; add iso for every ISO's too (each "
            "costs about 2 % of a core while rolling: see docs/mix-and-proxies.md)."
        ),
    )

    @field_validator("bitrate_kbps")
    @classmethod
    def _bitrate(cls, value: int) -> int:
        if value not in PROXY_BITRATES:
            raise ValueError(f"one of {', '.join(map(str, PROXY_BITRATES))}, got {value}")
        return value


class RecorderSettings(_Section):
    """Multitrack recording: where tracks go, and the timecode they carry."""

    directory: Path = Field(
        default_factory=default_recordings_dir,
        description="Where each take's tracks are written (one folder per take); never deleted.",
    )
    sample_rate: int = Field(default=48000, description="Sample rate of the track files.")
    timecode_rate: str = Field(
        default="23.976",
        description="Timecode rate: 23.976, 24, 25, 29.97, 29.97df, 30, 48, 50, 59.94(df), 60.",
    )
    timecode_offset_s: float = Field(
        default=0.0, description="Added to the time of day to make the hub's timecode."
    )
    stop_grace_s: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description="After stop, how long samples still in flight from microphones are awaited.",
    )
    default_scene: str = Field(default="1", min_length=1, description="Scene of the first take.")
    fsync_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="How often each track is forced to disk (fsync); the uploader only sends "
        "bytes that are on disk, so this is also how far behind the real-time upload may lag.",
    )
    position_tolerance_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How far a microphone's sample positions may disagree with the hub's clock "
        "before a jump is a discontinuity (bounded, never filled with silence) and a source "
        "running ahead is cut off as faster than real time.",
    )
    min_free_minutes: float = Field(
        default=10.0,
        ge=0,
        description="A take refuses to start without disk room for this many minutes of every "
        "track (0: no check).",
    )
    group: str | None = Field(
        default=None,
        description="Group (name or gid) given read access to the recordings (the sound team's); "
        "folders 0750 and files 0640 either way, never readable by others.",
    )
    meter_interval_s: float = Field(
        default=0.05,
        gt=0,
        le=0.1,
        description="How often each track's level meter is read (at least 10 times a second).",
    )
    clip_hold_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a meter shows a clip (a sample at full scale) after it happened.",
    )
    tracks: dict[str, TrackPin] = Field(
        default_factory=dict,
        description="By sub-device serial (any source's): a fixed track number and a name the "
        "operator gives; other sub-devices take the lowest numbers no pin holds.",
    )

    @field_validator("tracks")
    @classmethod
    def _distinct_tracks(cls, value: dict[str, TrackPin]) -> dict[str, TrackPin]:
        seen: dict[int, str] = {}
        for serial, pin in value.items():
            if pin.track is not None:
                if pin.track in seen:
                    raise ValueError(
                        f"track {pin.track} is pinned twice: {seen[pin.track]} and {serial}"
                    )
                seen[pin.track] = serial
        return value

    mix: MixSection = Field(default_factory=MixSection)
    proxy: ProxySection = Field(default_factory=ProxySection)
    poly: bool = Field(
        default=False,
        description="Also write every ISO into one polyphonic BWF after each take (primary "
        "channel).",
    )
    upload_order: list[Literal["proxy", "mix", "iso", "poly"]] = Field(
        default=["proxy", "mix", "iso", "poly"],
        description="The order a take's files finish uploading in, by kind (first: highest "
        "type priority, kind:<k>).",
    )

    @field_validator("upload_order")
    @classmethod
    def _order(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each kind once")
        missing = [k for k in ("proxy", "mix", "iso", "poly") if k not in value]
        return [*value, *missing]

    @field_validator("group")
    @classmethod
    def _group_exists(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            try:
                grp.getgrnam(value)
            except KeyError:
                raise ValueError(f"no such group: {value!r}") from None
        return value

    @field_validator("timecode_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        from c2c_hub.timecode import FrameRate

        FrameRate.parse(value)
        return value


class TimecodeSettings(_Section):
    """Where the hub's timecode comes from (docs/timecode.md); its rate: recorder.timecode_rate."""

    source: Literal["system", "ltc", "ptp"] = Field(
        default="system",
        description="system: the system clock's time of day; ltc: jam to LTC on an input, then "
        "free-run; ptp: the system clock disciplined by linuxptp (ptp4l/phc2sys).",
    )
    ltc_device: str | None = Field(
        default=None,
        description="The sub-device (serial, as `c2c-hub devices` shows it) whose audio carries "
        "the LTC: a local input or an AES67 stream.",
    )
    ltc_channel: int = Field(
        default=1, ge=1, le=64, description="The channel of ltc_device that carries the LTC (1..)."
    )
    ltc_stop_after_s: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="LTC missing this long counts as stopped (free-run; record-run stops).",
    )
    offset_frames: int = Field(
        default=0,
        ge=-5_184_000,
        le=5_184_000,
        description="Frames added to the timecode; the operator's value set at run time "
        "(saved in <data_dir>/timecode.json) replaces it.",
    )
    drift_warn_ms: float = Field(
        default=50.0,
        gt=0,
        description="A source further than this from the hub's timecode warns before a take.",
    )
    record_run: bool = Field(
        default=False,
        description="With the LTC source: a take starts when the LTC starts running and stops "
        "when it stops.",
    )
    preroll_s: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="Record-run: the take starts this long before the LTC did (from a buffer).",
    )
    ptp_uds: str | None = Field(
        default=None,
        description="ptp4l's management socket for pmc (-s); none: pmc's default.",
    )

    @model_validator(mode="after")
    def _ltc_needs_device(self) -> TimecodeSettings:
        if self.source == "ltc" and not self.ltc_device:
            raise ValueError("source 'ltc' needs ltc_device: the sub-device carrying the LTC")
        if self.record_run and self.source != "ltc":
            raise ValueError("record_run follows the LTC: set source = 'ltc'")
        return self


class ControlSettings(_Section):
    """The hub's local control API and web page (``c2c-hub run``)."""

    enabled: bool = Field(default=True, description="Serve the control API and web page on TCP.")
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on. Every request needs the access token "
        "(<data_dir>/control-token) or a login made with the code on the hub's screen; beyond "
        "loopback, give tls_cert/tls_key so that they do not cross the network in clear.",
    )
    port: int = Field(default=8765, ge=0, le=65535, description="TCP port (0: any free port).")
    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate (chain) to serve HTTPS with; needs tls_key. Plain HTTP "
        "without it.",
    )
    tls_key: Path | None = Field(
        default=None, description="PEM private key of tls_cert (keep it owner-only)."
    )
    operators_group: str | None = Field(
        default=None,
        description="Group (name or gid) whose members may use the control socket besides the "
        "hub's owner and root; the socket and data directory are opened to it (0660, 0710).",
    )
    upload_roots: list[Path] = Field(
        default_factory=list,
        description="Folders, besides recorder.directory, whose regular files the control API "
        "may queue for upload; any other path is refused.",
    )

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _pem_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ControlSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both, or neither")
        return self


class UploadSettings(_Section):
    """How files go up: congestion control and part streams (see docs/uploader.md)."""

    congestion_control: str = Field(
        default="auto",
        description="TCP congestion control of the hub's connections: auto (CUBIC per "
        "socket, the part streams switched to BBR once they see random loss; BBR from the "
        "start where CUBIC may not be set; else the system default), system, or a name (bbr, "
        "cubic, reno ...; never switched; the system default when the kernel refuses it).",
    )
    part_streams: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Part PUTs in flight: 0 adapts between min_part_streams and "
        "max_part_streams as throughput grows or not; a number pins it.",
    )
    min_part_streams: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Adaptive floor (the 4 streams the uploader always ran before).",
    )
    max_part_streams: int = Field(default=16, ge=1, le=64, description="Adaptive ceiling.")
    realtime_tail_limit: int = Field(
        default=2 * 1024 * 1024,
        ge=0,
        le=5 * 1024 * 1024,
        description="Bytes of an append-only growing file (the MP3 proxies) left unsent while "
        "it records: past this, its last part sent is sent again, grown to the durable end, so "
        "at the stop only this much is left (0: off; WAVs never, see docs/uploader.md).",
    )

    @field_validator("congestion_control")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[a-z0-9_]{1,15}", value):
            raise ValueError("must be auto, system or an algorithm name such as bbr or cubic")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> UploadSettings:
        if self.min_part_streams > self.max_part_streams:
            raise ValueError("min_part_streams must not exceed max_part_streams")
        return self


class PluginSettings(_Section):
    """Which plugins load, and their options."""

    allow: list[str] | None = Field(
        default=None,
        description="Load only these plugins (entry-point names); every plugin when unset.",
    )
    block: list[str] = Field(
        default_factory=list, description="Never load these plugins (entry-point names)."
    )
    trace: bool = Field(default=False, description="Log every hook call and its result.")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-plugin options, by plugin name (``[plugins.options.<name>]``).",
    )


class HubSettings(BaseSettings):
    """All of the hub's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    frameio: FrameioSettings = Field(default_factory=FrameioSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    device_models: DeviceModelSettings = Field(default_factory=DeviceModelSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    recorder: RecorderSettings = Field(default_factory=RecorderSettings)
    timecode: TimecodeSettings = Field(default_factory=TimecodeSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    log_level: str = Field(default="INFO", description="Python logging level name.")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get(CONFIG_ENV)
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


FRAMEIO_API = "https://api.frame.io"
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
CLIENT_SECRET_CREDENTIAL = "frameio-client-secret"
CLIENT_ID_CREDENTIAL = "frameio-client-id"


def is_production(settings: HubSettings) -> bool:
    """Talking to Frame.io itself (not the emulator or a test double)."""
    return settings.frameio.api_base_url.lower() == FRAMEIO_API


def read_credential_file(path: Path, what: str) -> str:
    """The one-line secret in ``path``, refused unless only the hub's user can read it."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(
            f"invalid settings:\n  {what}: cannot read {path}: {exc.strerror}"
        ) from None
    if info.st_uid != os.geteuid():
        raise SettingsError(
            f"invalid settings:\n  {what}: {path} belongs to uid {info.st_uid}, not to the hub's "
            f"user (uid {os.geteuid()})"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise SettingsError(
            f"invalid settings:\n  {what}: {path} is readable by others "
            f"({oct(stat.S_IMODE(info.st_mode))}); make it 0400 or 0600"
        )
    if not text:
        raise SettingsError(f"invalid settings:\n  {what}: {path} is empty")
    return text


def apply_credential_files(
    settings: HubSettings, environ: dict[str, str] | None = None
) -> HubSettings:
    """The client id and secret from credential files, where they are given.

    Sources: ``frameio.client_secret_file``, else ``$CREDENTIALS_DIRECTORY/frameio-client-secret``
    (systemd's ``LoadCredential=``/``LoadCredentialEncrypted=``); the client id likewise from
    ``$CREDENTIALS_DIRECTORY/frameio-client-id``. Against Frame.io itself (the default
    ``api_base_url``) a client secret from the environment or a config file is refused: in
    production it comes from a file only the service user can read. The emulator, the demo and
    the tests point ``api_base_url`` elsewhere and may keep the easy path.
    """
    env = os.environ if environ is None else environ
    frameio = settings.frameio
    update: dict[str, Any] = {}
    creds_dir = env.get(CREDENTIALS_DIRECTORY)
    secret_file = frameio.client_secret_file
    if secret_file is None and creds_dir and (Path(creds_dir) / CLIENT_SECRET_CREDENTIAL).is_file():
        secret_file = Path(creds_dir) / CLIENT_SECRET_CREDENTIAL
    if secret_file is not None:
        secret = read_credential_file(secret_file, "frameio.client_secret_file")
        if frameio.client_secret.get_secret_value() not in ("", secret):
            raise SettingsError(
                "invalid settings:\n  frameio.client_secret: give the client secret in one place "
                "only (it is also in a credential file)"
            )
        update["client_secret"] = SecretStr(secret)
    elif is_production(settings) and frameio.client_secret.get_secret_value():
        raise SettingsError(
            "invalid settings:\n  frameio.client_secret: against Frame.io the client secret comes "
            "from a credential file only the hub's user can read (frameio.client_secret_file, or "
            f"the systemd credential {CLIENT_SECRET_CREDENTIAL}), never from the environment or a "
            "config file"
        )
    if creds_dir and (Path(creds_dir) / CLIENT_ID_CREDENTIAL).is_file():
        update["client_id"] = read_credential_file(
            Path(creds_dir) / CLIENT_ID_CREDENTIAL, "frameio.client_id"
        )
    if not update:
        return settings
    return settings.model_copy(update={"frameio": frameio.model_copy(update=update)})


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(settings)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}")
    return "invalid settings:\n" + "\n".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> HubSettings:
    """Build the settings, raising :class:`SettingsError` with one line per bad field.

    ``config_file`` (or ``$C2C_HUB_CONFIG``, else the first of
    :func:`c2c_hub.locations.config_candidates` that exists) is an optional TOML file with the
    same nested sections as the model (``[frameio]``, ``[storage]``, ...).
    """
    previous = os.environ.get(CONFIG_ENV)
    if config_file is None and not previous:
        from c2c_hub.locations import default_config_file

        config_file = default_config_file()  # systemd's, the user's, the system's
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"invalid settings:\n  config file: no such file: {config_file}")
        os.environ[CONFIG_ENV] = str(config_file)
    try:
        return apply_credential_files(HubSettings(**overrides))
    except SettingsError:
        raise
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except (OSError, ValueError) as exc:  # e.g. a TOML syntax error
        raise SettingsError(f"invalid settings:\n  config file: {exc}") from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = previous
