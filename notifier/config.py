"""Settings: config.toml, then NOTIFIER_* environment, then secrets from files.

Precedence, highest first: environment (``NOTIFIER_SMTP__HOST``), config file, defaults.
The SMTP password never comes from config.toml: it is read from ``NOTIFIER_SMTP__PASSWORD``,
from the file named by ``NOTIFIER_SMTP__PASSWORD_FILE``, or from the systemd credential
``$CREDENTIALS_DIRECTORY/smtp-password``.
Relative paths are taken relative to the config file's folder, so the service behaves the same
whatever its working directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from notifier.errors import ConfigError

ENV_CONFIG = "NOTIFIER_CONFIG"
PASSWORD_FILE_ENV = "NOTIFIER_SMTP__PASSWORD_FILE"
CREDENTIAL_NAME = "smtp-password"
DEFAULT_CONFIG = Path("config.toml")

_file_data: ContextVar[dict[str, Any] | None] = ContextVar("notifier_config_file", default=None)

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_DURATION = re.compile(r"^\s*(\d+)\s*(d|h|m|s)\s*$")
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '15m', '30s' -> timedelta; ValueError names the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. '30d', '12h', '15m' or '30s'")
    try:
        return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration") from None


def check_zone(name: str) -> str:
    """The name if it is a known IANA time zone; ValueError with an example otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a known time zone, e.g. 'Europe/Stockholm'") from None
    return name


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlansSettings(Section):
    dir: Path = Field(Path("plan"), description="Folder with the plan files (*.toml).")


def check_address(address: str) -> str:
    """The address, stripped, if it looks like one; line breaks and lists are refused."""
    address = address.strip()
    if not _ADDRESS.match(address):
        raise ValueError(f"'{address}' is not an email address; write it as name@example.se")
    return address


class CoordinatorSettings(Section):
    name: str = Field("Samordnare brottsförebyggande arbete", description="Shown in emails.")
    email: str = Field(
        "samordnare@gotland.example",
        description="Receives due notices, digests and reminders of organisations without address.",
    )

    @field_validator("email")
    @classmethod
    def _valid_email(cls, email: str) -> str:
        return check_address(email)


class MailSettings(Section):
    from_address: str = Field("notifier@gotland.example", description="From: address.")
    from_name: str = Field("Åtgärdsplanen – påminnelser", description="From: display name.")
    reply_to: str = Field("", description="Reply-To: address; empty means the coordinator.")
    outbox: Path = Field(
        Path("state/outbox"), description="Where .eml files go when no SMTP host is set."
    )

    @field_validator("from_address")
    @classmethod
    def _valid_from(cls, address: str) -> str:
        return check_address(address)

    @field_validator("reply_to")
    @classmethod
    def _valid_reply_to(cls, address: str) -> str:
        return check_address(address) if address.strip() else ""


class SmtpSettings(Section):
    host: str = Field("", description="SMTP server; empty writes mail to the outbox instead.")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (implicit, port 465) or none."
    )
    username: str = ""
    password: SecretStr | None = Field(None, exclude=True)
    password_file: Path | None = Field(
        None, description="File holding the SMTP password (readable by the service only)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds per SMTP operation.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for a private CA.")


class ReminderSettings(Section):
    leads: tuple[str, ...] = Field(
        ("30d", "7d", "1d"), description="How long before the due date each reminder goes out."
    )
    send_time: dt.time = Field(dt.time(8, 0), description="Local time of day reminders go out.")
    timezone: str = "Europe/Stockholm"

    @field_validator("leads")
    @classmethod
    def _valid_leads(cls, leads: tuple[str, ...]) -> tuple[str, ...]:
        for lead in leads:
            parse_duration(lead)
        return leads

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, zone: str) -> str:
        return check_zone(zone)

    @property
    def lead_deltas(self) -> tuple[timedelta, ...]:
        return tuple(parse_duration(lead) for lead in self.leads)


class DigestSettings(Section):
    weekday: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = "monday"
    time: dt.time = Field(dt.time(8, 0))
    weeks_ahead: int = Field(4, ge=1, le=52, description="How many weeks ahead the digest looks.")


class FeedSettings(Section):
    base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public URL of the feeds, as subscribers reach them (https behind a proxy).",
    )
    tokens: bool = Field(False, description="Serve each feed only under a secret token.")
    refresh: str = Field("4h", description="How often subscribers should refresh.")
    dir: Path | None = Field(None, description="Also write every feed here, for a web server.")
    url: str = Field("", description="Link shown in each calendar event, if any.")

    @field_validator("refresh")
    @classmethod
    def _valid_refresh(cls, refresh: str) -> str:
        parse_duration(refresh)
        return refresh


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class LedgerSettings(Section):
    path: Path = Field(Path("state/ledger.sqlite3"), description="SQLite file of every send.")


class TemplateSettings(Section):
    dir: Path = Field(Path("templates"), description="Folder with the Jinja2 email templates.")


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class _ParsedFile(PydanticBaseSettingsSource):
    """Feeds the already parsed config.toml to pydantic-settings at the right precedence."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    plans: PlansSettings = PlansSettings()
    coordinator: CoordinatorSettings = CoordinatorSettings()
    mail: MailSettings = MailSettings()
    smtp: SmtpSettings = SmtpSettings()
    reminders: ReminderSettings = ReminderSettings()
    digest: DigestSettings = DigestSettings()
    feeds: FeedSettings = FeedSettings()
    server: ServerSettings = ServerSettings()
    ledger: LedgerSettings = LedgerSettings()
    templates: TemplateSettings = TemplateSettings()
    logging: LogSettings = LogSettings()

    source: Path | None = Field(None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ParsedFile(settings_cls))


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config wins, then $NOTIFIER_CONFIG, then ./config.toml."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read, validate and resolve the configuration; raise ConfigError naming every bad key."""
    path = path or config_path()
    data = _read_file(path, required=required)
    if "password" in data.get("smtp", {}):
        raise ConfigError(
            [f"{path}: smtp.password: secrets do not belong in the config file"],
            hint=f"Remove it and set ${PASSWORD_FILE_ENV} to a file only the service can read, "
            f"or a systemd credential named '{CREDENTIAL_NAME}'.",
        )
    token = _file_data.set(data)
    try:
        settings = Settings(source=path if path.exists() else None)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, data)) from None
    finally:
        _file_data.reset(token)
    settings = _with_password(settings, path)
    return _resolved(settings, path.resolve().parent if path.exists() else Path.cwd())


def _read_file(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(
                [f"{path}: no such config file"], hint="Check --config or $NOTIFIER_CONFIG."
            )
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read: {error}"]) from None


def _describe(error: ValidationError, path: Path, data: dict[str, Any]) -> list[str]:
    """One line per problem: 'config.toml: smtp.port: Input should be ... (got 'abc')'."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        origin = _origin(item["loc"], data, path)
        got = f" (got {item['input']!r})" if item["type"] != "missing" and _is_scalar(item) else ""
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against the shipped config.toml"
        lines.append(f"{origin}: {key}: {message}{got}")
    return lines


def _is_scalar(item: Any) -> bool:
    return isinstance(item.get("input"), str | int | float | bool)


def _origin(loc: tuple[Any, ...], data: dict[str, Any], path: Path) -> str:
    """Where a bad value came from: an environment variable overrides the file."""
    for length in range(len(loc), 0, -1):
        env = "NOTIFIER_" + "__".join(str(p).upper() for p in loc[:length])
        if env in os.environ:
            return f"${env}"
    return str(path)


def _with_password(settings: Settings, path: Path) -> Settings:
    if settings.smtp.password is not None:
        return settings
    candidates: list[tuple[str, Path]] = []
    if settings.smtp.password_file:
        secret_path = settings.smtp.password_file
        if not secret_path.is_absolute():
            secret_path = path.resolve().parent / secret_path
        candidates.append(("smtp.password_file", secret_path))
    if os.environ.get("CREDENTIALS_DIRECTORY"):
        credential = Path(os.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        if credential.exists():
            candidates.append(("systemd credential", credential))
    for origin, secret_file in candidates[:1]:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                [f"{origin} {secret_file}: cannot read the SMTP password: {error.strerror}"],
                hint="Make the file readable by the service user, or unset the variable.",
            ) from None
        smtp = settings.smtp.model_copy(update={"password": SecretStr(secret)})
        return settings.model_copy(update={"smtp": smtp})
    return settings


def _resolved(settings: Settings, base: Path) -> Settings:
    def absolute(value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        return value if value.is_absolute() else (base / value)

    return settings.model_copy(
        update={
            "plans": settings.plans.model_copy(update={"dir": absolute(settings.plans.dir)}),
            "mail": settings.mail.model_copy(update={"outbox": absolute(settings.mail.outbox)}),
            "ledger": settings.ledger.model_copy(update={"path": absolute(settings.ledger.path)}),
            "templates": settings.templates.model_copy(
                update={"dir": absolute(settings.templates.dir)}
            ),
            "feeds": settings.feeds.model_copy(update={"dir": absolute(settings.feeds.dir)}),
            "smtp": settings.smtp.model_copy(update={"ca_file": absolute(settings.smtp.ca_file)}),
        }
    )


def password_origin(settings: Settings) -> str:
    """Where the SMTP password came from, for the start-up log (never the value)."""
    if settings.smtp.password is None:
        return "none"
    if os.environ.get("NOTIFIER_SMTP__PASSWORD"):
        return "$NOTIFIER_SMTP__PASSWORD"
    if settings.smtp.password_file:
        return str(settings.smtp.password_file)
    return f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"
