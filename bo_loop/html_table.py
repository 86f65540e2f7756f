"""Small HTML tables for notebook displays (``_repr_html_``); imports nothing of bo_loop."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

_TABLE = 'style="border-collapse:collapse;margin:2px 0 8px 0"'
_CELL = 'style="text-align:left;padding:2px 10px 2px 0"'


def e(value: object) -> str:
    return html.escape(str(value))


def number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th {_CELL}>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td {_CELL}>{e(number(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
