"""The coordinator's secret address of the overview page: ``/overview/<token>``.

The token is a fixed payload signed with the installation's link secret (the one the status
links use, see ``links.py``) under a salt of its own, so no status link opens the overview and
no overview token opens a status page. It names no one and never expires: it changes only
when the link secret does. ``notifier overview-url`` prints the address.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from itsdangerous import URLSafeSerializer

if TYPE_CHECKING:
    from notifier.settings import Settings

ROUTE = "/overview/"
# Separates these signatures from the status links' (links.SALT) under the same secret.
SALT = "notifier.overview"
_PAYLOAD = "coordinator-overview"


class OverviewAccess:
    """Makes and checks the one overview token of an installation."""

    def __init__(self, secret: bytes) -> None:
        self._token = str(URLSafeSerializer(secret, salt=SALT).dumps(_PAYLOAD))

    @property
    def token(self) -> str:
        return self._token

    def allows(self, token: str) -> bool:
        """Whether ``token`` is this installation's, compared in constant time.

        Only the exact spelling the signer makes is accepted: base64 lets a last character
        differ in bits it does not use, and an altered address should never work.
        """
        return hmac.compare_digest(token.encode("ascii", "replace"), self._token.encode())


def access_for(settings: Settings) -> OverviewAccess | None:
    """None when the settings carry no link secret (then there is no overview address)."""
    secret = settings.links.secret
    if secret is None:
        return None
    # Encoded as links.signer_for encodes it, so both read the same secret the same way.
    return OverviewAccess(secret.get_secret_value().encode("latin-1"))


def overview_url(settings: Settings) -> str | None:
    access = access_for(settings)
    if access is None:
        return None
    return f"{settings.feeds.base_url.rstrip('/')}{ROUTE}{access.token}"
