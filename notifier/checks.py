"""Checks of single values that the configuration and the plan files share.

Pure: no files, no clock, no settings. Each check returns the value it accepts (so it can
serve as a pydantic validator) and raises ValueError with the fix in the message, which
pydantic and the plan reader put after the file and key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.limits import MAX_LEADS

# ASCII only: an address with a non-ASCII or control character in it cannot go over SMTP
# without SMTPUTF8, so it is refused where it is written rather than failing at 08:00.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DURATION = re.compile(r"^\s*(\d+)\s*(d|h|m|s)\s*$")
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

Leads = TypeVar("Leads", bound=Iterable[str] | None)


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '15m', '30s' -> timedelta; ValueError names the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. '30d', '12h', '15m' or '30s'")
    try:
        return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration") from None


def check_leads(leads: Leads) -> Leads:
    """The lead times unchanged if they are at most MAX_LEADS distinct positive durations;
    ValueError naming the first that is not."""
    written = list(leads or ())
    if len(written) > MAX_LEADS:
        raise ValueError(
            f"{len(written)} lead times; at most {MAX_LEADS} are allowed, as each sends every "
            "organisation one more reminder per milestone. Keep the ones that matter"
        )
    seen: dict[timedelta, str] = {}
    for lead in written:
        delta = parse_duration(lead)
        if not delta:
            raise ValueError(f"'{lead}' is no lead time; write one before the due date, e.g. '1d'")
        if delta in seen:
            raise ValueError(f"'{lead}' is the same lead time as '{seen[delta]}'; remove one")
        seen[delta] = lead
    return leads


def check_zone(name: str) -> str:
    """The name if it is a known IANA time zone; ValueError with an example otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a folder of tzdata ('Europe') or a name too long for a file name.
        raise ValueError(f"'{name}' is not a known time zone, e.g. 'Europe/Stockholm'") from None
    return name


def is_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def check_address(address: str) -> str:
    """The address, stripped, if it looks like one; line breaks and lists are refused."""
    address = address.strip()
    if not _ADDRESS.match(address):
        raise ValueError(f"'{address}' is not an email address; write it as name@example.se")
    return address


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine without asking DNS: 'localhost', 127.0.0.0/8, ::1.

    Nothing is resolved: a name could point anywhere tomorrow, so only literal loopback
    counts.
    """
    host = host.strip().rstrip(".").strip("[]")
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


UNENCRYPTED_HINT = (
    'Set smtp.security = "starttls" (port 587) or "tls" (port 465), or send through an SMTP '
    "relay on this machine (127.0.0.1, ::1 or localhost) that needs no login."
)


def unencrypted_smtp_problems(
    host: str, security: str, username: str, password_from: str | None
) -> list[str]:
    """Why these SMTP settings would send something in clear text it must not; empty if none.

    ``password_from`` says where a password came from (None: there is none). Without TLS
    the mail may only go to a loopback relay, and a login never goes at all: AUTH PLAIN
    carries the password readable to anyone on the path.
    """
    if security != "none" or not host.strip():
        return []
    problems = []
    if not is_loopback_host(host):
        problems.append(
            f"smtp.host = '{host}' with smtp.security = \"none\": mail would cross the network "
            "unencrypted; without TLS only a loopback relay may be used"
        )
    if username or password_from is not None:
        given = [f"smtp.username = '{username}'"] if username else []
        given += [f"a password (from {password_from})"] if password_from is not None else []
        problems.append(
            f'{" and ".join(given)} with smtp.security = "none": a login would send the '
            "password unencrypted"
        )
    return problems
