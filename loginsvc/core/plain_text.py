"""The one rule for text we store: no control characters.

Control characters break e-mail headers (a CR/LF in a name becomes a header),
CSV exports and PostgreSQL (it cannot store U+0000). Every way in — the
profile API and form, the admin API and import, the order webhook — checks
text with these functions, so one input is refused (or kept) everywhere alike.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AfterValidator

# C0 controls and DEL; single-line text (names, phones, address lines) allows none.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Multi-line text (notes) keeps line breaks and tabs.
CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

CONTROL_MESSAGE = "Control characters are not allowed."


def has_control(value: str, *, multiline: bool = False) -> bool:
    return bool((CONTROL_BUT_LINES if multiline else CONTROL).search(value))


def single_line(value: Any) -> Any:
    """A pydantic after-validator: text without control characters (None passes)."""
    if isinstance(value, str) and CONTROL.search(value):
        raise ValueError(CONTROL_MESSAGE)
    return value


def multi_line(value: Any) -> Any:
    if isinstance(value, str) and CONTROL_BUT_LINES.search(value):
        raise ValueError(CONTROL_MESSAGE)
    return value


SingleLine = AfterValidator(single_line)
MultiLine = AfterValidator(multi_line)
