"""The settings notifier runs with: one pydantic model per config.toml section.

What each key means and its default live here; ``config.py`` reads them from config.toml, the
environment and secret files, and checks them.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.checks import check_address, check_leads, check_zone, parse_duration


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlansSettings(Section):
    dir: Path = Field(Path("plan"), description="Folder with the plan files (*.toml).")


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
    daily_cap: int = Field(
        20,
        ge=0,
        description="At most this many messages to one address in 24 hours; more wait and the "
        "coordinator is told (0: no cap).",
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
        return check_leads(leads)

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
    send_empty: bool = Field(
        False,
        description="Send the digest also in a week with nothing to report; otherwise it is "
        "recorded as skipped.",
    )


class EscalationSettings(Section):
    after_working_days: int = Field(
        5,
        ge=1,
        le=60,
        description="Working days after its due date an open milestone is escalated.",
    )
    every_days: int = Field(7, ge=1, le=90, description="Days between repeated escalations.")
    enabled: bool = Field(True, description="false: no escalation is ever sent.")


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


class LinkSettings(Section):
    expiry_days: int = Field(60, ge=1, le=3650, description="Link life after the due date.")
    secret: SecretStr | None = Field(None, exclude=True)  # links.with_secret, never a file

    @field_validator("secret")
    @classmethod
    def _not_configured(cls, secret: SecretStr) -> SecretStr:
        raise ValueError("the link secret is a credential or file 'link-secret', not a setting")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class LedgerSettings(Section):
    path: Path = Field(
        Path("state/ledger.sqlite3"),
        description="SQLite file of every send; with ledger.url, its folder is still this "
        "node's own state folder.",
    )
    url: str = Field(
        "",
        description="postgresql://USER@HOST:PORT/DATABASE: a PostgreSQL database shared by "
        "every node, instead of the SQLite file. No password here: it comes from "
        "ledger.password_file or the systemd credential 'ledger-password'.",
    )
    password: SecretStr | None = Field(None, exclude=True)
    password_file: Path | None = Field(
        None, description="File holding the database password (readable by the service only)."
    )
    lease_seconds: float = Field(
        600.0,
        ge=5,
        description="How long a node's claim on a message holds: after it, another node "
        "sends a message whose sender died, with the same Message-ID.",
    )
    connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for the database server before giving up."
    )

    @field_validator("url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        url = url.strip()
        if not url:
            return url
        scheme, _, rest = url.partition("://")
        if scheme not in ("postgresql", "postgres") or not rest:
            raise ValueError("write it as postgresql://USER@HOST:PORT/DATABASE")
        userinfo = rest.split("/", 1)[0].rpartition("@")[0]
        if ":" in userinfo or "password=" in url.lower():
            raise ValueError(
                "a password does not belong in the URL: put it in the file named by "
                "ledger.password_file, or in the systemd credential 'ledger-password'"
            )
        return url

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def shared(self) -> bool:
        """Whether the ledger is a database server's, shared by several nodes."""
        return bool(self.url)


class TemplateSettings(Section):
    dir: Path = Field(Path("templates"), description="Folder with the Jinja2 email templates.")


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


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
    escalation: EscalationSettings = EscalationSettings()
    feeds: FeedSettings = FeedSettings()
    links: LinkSettings = LinkSettings()
    server: ServerSettings = ServerSettings()
    ledger: LedgerSettings = LedgerSettings()
    templates: TemplateSettings = TemplateSettings()
    logging: LogSettings = LogSettings()

    source: Path | None = Field(None, exclude=True)
