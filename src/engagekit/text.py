"""The normalised key through which names people type compare (SPEC §1)."""

from __future__ import annotations

import unicodedata


def norm_key(value: str | None) -> str | None:
    """NFC, surrounding whitespace stripped, inner whitespace collapsed, casefolded; empty is missing.

    >>> norm_key("  WARSZAWA ")
    'warszawa'
    >>> norm_key("KÖLN") == norm_key("köln")
    True
    >>> norm_key("   ") is None
    True
    """
    if value is None:
        return None
    key = " ".join(unicodedata.normalize("NFC", value).split()).casefold()
    # casefold can leave a decomposed form (e.g. 'ǰ'), so normalise once more
    key = unicodedata.normalize("NFC", key)
    return key or None


def clean_text(value: str | None) -> str | None:
    """A stored text attribute: kept as written, but blank means missing."""
    if value is None or not value.strip():
        return None
    return value
