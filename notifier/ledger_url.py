"""The ledger database's URL as logs and errors may show it."""

from __future__ import annotations


def shown_url(url: str) -> str:
    """The URL as logs and errors show it: never a password, should one have slipped in."""
    scheme, _, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}://{userinfo}{at}{host.split('?', 1)[0]}" if at else url.split("?", 1)[0]
