"""Customer export (streamed CSV/JSON) and import (CSV/JSON, per-row report, batched).

One module past 300 lines on purpose: export and import share the column list
and the formula-cell rule, and a round trip must stay exact; splitting them
would put one rule in two places.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from loginsvc.admin.customers import admin_customer_out
from loginsvc.admin.search import FilterQuery, filtered, ordered_page
from loginsvc.core.errors import InvalidRequest
from loginsvc.core.extensions import db

BATCH = 1000
EXPORT_COLUMNS = [
    "id",
    "email",
    "name",
    "company",
    "phone",
    "customer_number",
    "locale",
    "newsletter",
    "has_account",
    "status",
    "groups",
    "notes",
    "country",
    "billing_address",
    "shipping_address",
    "order_count",
    "totals",
    "last_order_at",
    "created_at",
    "updated_at",
]
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportQuery(FilterQuery):
    format: Literal["csv", "json", "xlsx"] = "csv"


def spreadsheet_safe(value: str) -> str:
    """Quote a cell a spreadsheet would run as a formula (OWASP CSV injection).

    A leading apostrophe shows the text as typed. Values that already begin
    with an apostrophe before such a character get one more, so that
    `unquote_cell` gives back exactly the original on re-import.
    """
    if value.startswith(FORMULA_START) or (
        value[:1] == "'" and value[1:2] != "" and (value[1] in FORMULA_START or value[1] == "'")
    ):
        return "'" + value
    return value


def unquote_cell(value: str) -> str:
    if value[:1] == "'" and value[1:2] != "" and (value[1] in FORMULA_START or value[1] == "'"):
        return value[1:]
    return value


def _csv_cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "groups":
        return spreadsheet_safe(";".join(value))
    if key == "totals":
        return ";".join(f"{t['currency']} {t['amount']}" for t in value)
    if isinstance(value, dict):
        return spreadsheet_safe(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return spreadsheet_safe(str(value))


def _export_row(c_out: dict[str, Any]) -> dict[str, Any]:
    addresses = c_out.pop("addresses")
    c_out.pop("account_created_at", None)
    c_out["billing_address"] = addresses["billing"]
    c_out["shipping_address"] = addresses["shipping"]
    return c_out


def iter_customers(f: FilterQuery) -> Iterator[dict[str, Any]]:
    """Every matching customer, in keyset batches: memory stays flat on any list size."""
    stmt = filtered(f)
    cursor: str | None = None
    try:
        while True:
            rows, cursor = ordered_page(stmt, sort=f.sort, limit=BATCH, cursor=cursor)
            out = [admin_customer_out(c) for c in rows]
            db.session.expunge_all()  # drop the batch from the identity map
            yield from out
            if cursor is None:
                return
    finally:
        db.session.rollback()


def export_csv(f: FilterQuery) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for n, c_out in enumerate(iter_customers(f), 1):
        row = _export_row(c_out)
        writer.writerow([_csv_cell(k, row.get(k)) for k in EXPORT_COLUMNS])
        if n % 200 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def export_json(f: FilterQuery) -> Iterator[str]:
    """A JSON array of admin customer objects (re-importable as it is)."""
    first = True
    yield "["
    for row in iter_customers(f):
        yield ("\n" if first else ",\n") + json.dumps(row, ensure_ascii=False)
        first = False
    yield "\n]\n"


def export_filename(fmt: str) -> str:
    return f"customers-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}.{fmt}"


# -- import -------------------------------------------------------------------------

MAX_ROWS = 100_000
WRITABLE = {
    "email",
    "name",
    "company",
    "phone",
    "customer_number",
    "locale",
    "newsletter",
    "notes",
    "groups",
    "status",
    "has_account",
    "billing_address",
    "shipping_address",
    "addresses",
}
# Columns of our own export that describe, not set: ignored so an export re-imports.
READ_ONLY = {
    "id",
    "order_count",
    "totals",
    "last_order_at",
    "created_at",
    "updated_at",
    "country",
    "account_created_at",
}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def _too_many(count: int) -> None:
    if count > MAX_ROWS:
        raise InvalidRequest(
            f"At most {MAX_ROWS} rows can be imported at once; nothing was.",
            [{"field": "body", "message": f"{count} rows"}],
        )


# A CSV cell holds one value: the addresses travel as billing_address and
# shipping_address (JSON objects), as the export writes them; a column that
# sets nothing is refused by name rather than silently dropped.
CSV_COLUMNS = (WRITABLE - {"addresses"}) | READ_ONLY


def _check_columns(cols: list[str]) -> None:
    problems = [
        f"unknown column {c!r}"
        + (" (use billing_address and shipping_address)" if c == "addresses" else "")
        for c in cols
        if c not in CSV_COLUMNS
    ]
    problems += [f"column {c!r} appears twice" for c in set(cols) if cols.count(c) > 1]
    if "email" not in cols:
        problems.append("an 'email' column is needed")
    if problems:
        raise InvalidRequest(
            "The CSV header is not usable; nothing was imported.",
            [{"field": "header", "message": p} for p in problems],
        )


def csv_rows(raw: bytes) -> tuple[int, Iterator[tuple[int, dict[str, Any] | str]]]:
    """(row count, rows); each row a dict of cells or the reason it cannot be read."""
    try:
        text = raw.decode("utf-8-sig")  # spreadsheets like to start with a BOM
    except UnicodeDecodeError:
        raise InvalidRequest("The CSV file is not UTF-8 text.", status=400) from None

    def records() -> Iterator[list[str]]:
        return (r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r))

    try:
        first = records()
        header = next(first, None)
        if header is None:
            raise InvalidRequest(
                "The CSV file is empty; a header row is needed.",
                [{"field": "header", "message": "missing"}],
            )
        cols = [h.strip().lower() for h in header]
        _check_columns(cols)
        count = sum(1 for _ in first)
    except csv.Error as exc:
        raise InvalidRequest(f"The CSV file cannot be read: {exc}.", status=400) from None
    _too_many(count)

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        it = records()
        next(it)
        for i, cells in enumerate(it, 1):
            if any(c.strip() for c in cells[len(cols) :]):
                yield i, "the row has more cells than the header"
                continue
            try:
                yield i, _typed_cells(dict(zip(cols, cells, strict=False)))
            except ValueError as exc:
                yield i, str(exc)

    return count, rows()


def _typed_cells(cells: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    addresses: dict[str, Any] = {}
    for col, cell in cells.items():
        value = unquote_cell(cell).strip()
        if col in READ_ONLY:
            continue
        if col in ("newsletter", "has_account"):
            if value.lower() in _TRUE | _FALSE:
                out[col] = value.lower() in _TRUE
            elif value:
                raise ValueError(f"{col}: expected true or false")
        elif col == "status":
            if value:
                out[col] = value
        elif col == "groups":
            out[col] = [n.strip() for n in value.split(";") if n.strip()]
        elif col in ("billing_address", "shipping_address"):
            try:
                parsed = json.loads(value) if value else None
            except ValueError:
                parsed = ""
            if parsed is not None and not isinstance(parsed, dict):
                raise ValueError(f"{col}: expected a JSON object")
            addresses[col.split("_")[0]] = parsed
        else:
            out[col] = value or None
    if addresses:
        out["addresses"] = addresses
    return out


def json_rows(raw: bytes) -> tuple[int, Iterator[tuple[int, dict[str, Any] | str]]]:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("The body is not valid JSON.", status=400) from None
    if not isinstance(doc, list):
        raise InvalidRequest(
            "The body must be a JSON array of customer objects.",
            [{"field": "body", "message": "expected an array"}],
        )
    _too_many(len(doc))

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        for i, obj in enumerate(doc, 1):
            if not isinstance(obj, dict):
                yield i, "not a JSON object"
                continue
            unknown = [k for k in obj if k not in WRITABLE | READ_ONLY]
            if unknown:
                yield i, f"unknown field {unknown[0]!r}"
                continue
            values = {k: v for k, v in obj.items() if k not in READ_ONLY}
            for key in ("customer_number", "phone"):  # spreadsheet tools make these numbers
                if isinstance(values.get(key), int) and not isinstance(values[key], bool):
                    values[key] = str(values[key])
            flat = {
                k.split("_")[0]: values.pop(k)
                for k in ("billing_address", "shipping_address")
                if k in values
            }
            if flat:
                nested = values.get("addresses")
                values["addresses"] = {**(nested if isinstance(nested, dict) else {}), **flat}
            yield i, values

    return len(doc), rows()
