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


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or bound as text in every store, or None when it can.

    NUL is refused by PostgreSQL text; a lone surrogate (``"\\ud800"``, which ``json.loads`` may
    produce) is not Unicode text and cannot be encoded as UTF-8 by any driver.

    >>> text_problem("Kraków") is None
    True
    >>> text_problem("a\\x00b"), text_problem("a\\ud800")
    ('contains a NUL character', 'contains a lone surrogate (not valid Unicode text)')
    """
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (not valid Unicode text)"
    return None
