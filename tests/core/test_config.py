"""Configuration: the shipped file matches the defaults, and every error names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from notifier.config import load_settings
from notifier.errors import ConfigError
from notifier.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def _sections(data: dict) -> dict:
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def test_shipped_config_lists_every_default_and_nothing_else() -> None:
    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    defaults = Settings().model_dump(mode="json", exclude_none=True, exclude={"source"})
    assert shipped == defaults


def test_environment_overrides_the_file_with_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\nhost = "mail.example.se"\nport = 465\n', encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_SMTP__PORT", "2525")
    settings = load_settings(path)
    assert (settings.smtp.host, settings.smtp.port) == ("mail.example.se", 2525)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir()
    path.write_text('[ledger]\npath = "state/l.sqlite3"\n', encoding="utf-8")
    assert load_settings(path).ledger.path == tmp_path / "etc" / "state" / "l.sqlite3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[smtp]\nport = "abc"\n', "smtp.port: Input should be a valid integer"),
        ('[smtp]\nhots = "x"\n', "smtp.hots: unknown key"),
        ('[reminders]\nleads = ["30 dagar"]\n', "reminders.leads: Value error, '30 dagar'"),
        ('[reminders]\ntimezone = "Europe/Visby"\n', "'Europe/Visby' is not a known time zone"),
        ("[smtp\n", "not valid TOML"),
        ('[coordinator]\nemail = ""\n', "coordinator.email: Value error, '' is not an email"),
        ('[mail]\nfrom_address = "a@b.se\\nBcc: c@d.se"\n', "mail.from_address: Value error"),
    ],
    ids=["wrong type", "unknown key", "bad duration", "bad zone", "bad toml", "empty", "crlf"],
)
def test_a_bad_value_names_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(path) in error.value.message
    assert expected in error.value.message


def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SERVER__PORT", "http")
    with pytest.raises(ConfigError, match=r"\$NOTIFIER_SERVER__PORT: server.port"):
        load_settings(tmp_path / "missing.toml")


def test_an_environment_value_is_named_even_when_the_file_sets_the_key_too(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP__PORT", "abc")
    with pytest.raises(ConfigError) as error:
        load_settings(project / "config.toml")
    assert error.value.message.startswith("$NOTIFIER_SMTP__PORT: smtp.port:")


def test_a_password_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\npassword = "hemligt"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert "smtp.password" in error.value.message
    assert "hemligt" not in error.value.message


def test_the_password_comes_from_a_file_or_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config file: the state folder is taken from here
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_SMTP__PASSWORD_FILE", str(secret))
    settings = load_settings(tmp_path / "none.toml")
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)

    monkeypatch.delenv("NOTIFIER_SMTP__PASSWORD_FILE")
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "smtp-password").write_text("fr0m-systemd", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings(tmp_path / "none.toml")
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "fr0m-systemd"


def test_an_unreadable_password_file_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP__PASSWORD_FILE", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="cannot read the SMTP password"):
        load_settings(tmp_path / "none.toml")


@pytest.mark.parametrize("key", ["_env_file", "_secrets_dir", "_env_prefix"])
def test_the_file_cannot_set_the_loaders_own_options(tmp_path: Path, key: str) -> None:
    # pydantic-settings takes these as keywords of the settings class; from config.toml they
    # are unknown keys like any other, never a folder of secrets or another prefix.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "smtp").write_text('{"host": "elsewhere.example"}', encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(f'{key} = "{secrets}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert f"{path}: {key}: unknown key" in error.value.message


def test_loaded_settings_are_plain_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[smtp]\nhost = "mail.example.se"\n', encoding="utf-8")
    settings = load_settings(path)
    assert type(settings) is Settings
    assert settings.source == path


# --- SMTP without TLS: loopback only, and never a login -------------------------------------


def _plain(tmp_path: Path, host: str, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[smtp]\nhost = "{host}"\nsecurity = "none"\n{extra}', encoding="utf-8")
    return path


@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.20.30", "::1", "[::1]", "localhost"])
def test_security_none_is_accepted_for_a_loopback_relay(tmp_path: Path, host: str) -> None:
    assert load_settings(_plain(tmp_path, host)).smtp.security == "none"


@pytest.mark.parametrize(
    "host", ["mail.example.se", "localhost.example.se", "10.0.0.25", "0.0.0.0", "::ffff:7f00:1"]
)
def test_security_none_to_any_other_host_is_refused_naming_the_keys_and_the_fix(
    tmp_path: Path, host: str
) -> None:
    # Names are not resolved: 'localhost.example.se' could point anywhere.
    path = _plain(tmp_path, host)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    message = error.value.message
    assert f"{path}: smtp.host = '{host}' with smtp.security = \"none\"" in message
    assert 'smtp.security = "starttls"' in message and '"tls"' in message
    assert "127.0.0.1" in message  # the other way out: a relay on this machine


def test_security_none_with_a_password_from_any_source_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plain(tmp_path, "127.0.0.1")
    secret = tmp_path / "pw"
    secret.write_text("s3cret-fil\n", encoding="utf-8")
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "smtp-password").write_text("s3cret-systemd", encoding="utf-8")
    sources = [
        ("NOTIFIER_SMTP__PASSWORD", "s3cret-env", "$NOTIFIER_SMTP__PASSWORD"),
        ("NOTIFIER_SMTP__PASSWORD_FILE", str(secret), str(secret)),
        ("CREDENTIALS_DIRECTORY", str(credentials), "$CREDENTIALS_DIRECTORY/smtp-password"),
    ]
    for variable, value, origin in sources:
        with monkeypatch.context() as env:
            env.setenv(variable, value)
            with pytest.raises(ConfigError) as error:
                load_settings(path)
        message = error.value.message
        assert f'a password (from {origin}) with smtp.security = "none"' in message, message
        assert "s3cret" not in message.replace(str(tmp_path), "")


def test_security_none_with_a_username_is_refused(tmp_path: Path) -> None:
    path = _plain(tmp_path, "localhost", 'username = "notifier"\n')
    with pytest.raises(ConfigError, match=r"smtp.username = 'notifier' with smtp.security"):
        load_settings(path)


def test_a_host_given_in_the_environment_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_SMTP__SECURITY", "none")
    monkeypatch.setenv("NOTIFIER_SMTP__HOST", "smtp.example.se")
    with pytest.raises(ConfigError, match=r"^\$NOTIFIER_SMTP__SECURITY: smtp.host = "):
        load_settings(tmp_path / "none.toml")
