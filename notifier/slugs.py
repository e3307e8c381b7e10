"""ASCII slugs for ids, feed names and URLs, from Swedish text."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str, max_words: int = 5) -> str:
    """'Krogar mot knark' -> 'krogar-mot-knark'; 'Länsstyrelsen' -> 'lansstyrelsen'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words[:max_words]) or "x"
