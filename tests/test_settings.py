"""Settings: env prefix, nested sections, TOML file, and clear errors that never echo secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2c_hub.settings import HubSettings, SettingsError, load_settings
from tests.helpers import REPO


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("C2C_HUB_"):
            monkeypatch.delenv(key)


def test_defaults_point_at_frameio_over_https() -> None:
    settings = load_settings()
    assert settings.frameio.api_base_url == "https://api.frame.io"
    assert settings.log_level == "INFO"


def test_nested_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_HUB_FRAMEIO__API_BASE_URL", "https://127.0.0.1:8443/")
    monkeypatch.setenv("C2C_HUB_FRAMEIO__FIRMWARE_VERSION", "2.16.4")
    monkeypatch.setenv("C2C_HUB_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.frameio.api_base_url == "https://127.0.0.1:8443"  # trailing slash dropped
    assert settings.frameio.firmware_version == "2.16.4"
    assert settings.log_level == "DEBUG"


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[frameio]\napi_base_url = "https://emulator.local:9000"\nclient_id = "unit-1"\n'
        '[storage]\ndata_dir = "/var/lib/c2c"\n'
    )
    settings = load_settings(config)
    assert settings.frameio.api_base_url == "https://emulator.local:9000"
    assert settings.frameio.client_id == "unit-1"
    assert settings.storage.data_dir == Path("/var/lib/c2c")
    monkeypatch.setenv("C2C_HUB_FRAMEIO__CLIENT_ID", "unit-2")
    assert load_settings(config).frameio.client_id == "unit-2"


@pytest.mark.parametrize(
    "url", ["http://api.frame.io", "ftp://api.frame.io", "api.frame.io", "https://"]
)
def test_api_base_url_must_be_https(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(frameio={"api_base_url": url})
    assert "frameio.api_base_url" in str(info.value)


def test_firmware_version_must_be_semver() -> None:
    with pytest.raises(SettingsError, match=r"frameio\.firmware_version: .*semantic version"):
        load_settings(frameio={"firmware_version": "v2"})


def test_every_bad_field_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C2C_HUB_LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError) as info:
        load_settings(frameio={"api_base_url": "http://x", "timeout_s": 0})
    message = str(info.value)
    assert "log_level" in message
    assert "frameio.api_base_url" in message
    assert "frameio.timeout_s" in message


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[frameio]\napi_base_ulr = "https://typo"\n')
    with pytest.raises(SettingsError, match="api_base_ulr"):
        load_settings(config)


def test_broken_toml_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[frameio\n")
    with pytest.raises(SettingsError, match="config file"):
        load_settings(broken)
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "missing.toml")


def test_client_secret_never_appears_in_errors_or_repr() -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    # The easy path (a secret in the settings) is for an emulator; Frame.io itself refuses it.
    settings = load_settings(
        frameio={"client_secret": secret, "api_base_url": "https://emulator.test"}
    )
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())
    with pytest.raises(SettingsError) as info:
        load_settings(frameio={"client_secret": secret, "api_base_url": "http://x"})
    assert secret not in str(info.value)
    assert isinstance(settings, HubSettings)


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    """A setting nobody can find is a setting nobody can use (datasette's docs-cannot-rot)."""

    from pydantic import BaseModel

    from c2c_hub.settings import HubSettings

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    missing = []
    for section, field in HubSettings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            missing += [
                f"{section}.{name}"
                for name in kind.model_fields
                if f"{section}.{name}" not in table
            ]
        elif section not in table:
            missing.append(section)
    assert missing == []
