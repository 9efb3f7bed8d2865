"""The customer export as an Excel workbook (openpyxl's write-only mode).

Rows are written as they come from the keyset batches, so memory stays flat; the
workbook (a zip) can only be finished at the end, so it is spooled to a temporary
file (on disk past 8 MiB) and then sent in chunks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook

from loginsvc.admin.import_export import EXPORT_COLUMNS, _csv_cell, _export_row, iter_customers
from loginsvc.admin.search import FilterQuery

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024


def _cell(key: str, value: Any) -> Any:
    # Numbers stay numbers; everything else is the CSV export's text (formula-safe).
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _csv_cell(key, value) if value is not None else None


def export_xlsx(f: FilterQuery) -> Iterator[bytes]:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("customers")
    ws.append(EXPORT_COLUMNS)
    for c_out in iter_customers(f):
        row = _export_row(c_out)
        ws.append([_cell(k, row.get(k)) for k in EXPORT_COLUMNS])
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        wb.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK):
            yield chunk
