"""The one rule for text we store: no control characters.

Control characters break e-mail headers (a CR/LF in a name becomes a header),
CSV exports and PostgreSQL (it cannot store U+0000). Every way in — the
profile API and form, the admin API and import, the order webhook — checks
text with these functions, so one input is refused (or kept) everywhere alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

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


@dataclass(frozen=True)
class _NoControl:
    """Checks the rule and writes it into the API document as a `pattern`,
    so the document refuses what the service refuses."""

    multiline: bool

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        check = multi_line if self.multiline else single_line
        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler.resolve_ref_schema(handler(schema))
        value["pattern"] = (
            "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
            if self.multiline
            else "^[^\\u0000-\\u001f\\u007f]*$"
        )
        return value


SingleLine = _NoControl(multiline=False)
MultiLine = _NoControl(multiline=True)
