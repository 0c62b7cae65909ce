"""The read-only page a CRM double shows at `/`: what the CRM holds and every status our system set in it, with
its time, so that whoever runs `make run` (the demo CRMs of `tests/crm_demo.py`) sees a connector work from the
CRM's side. A developer's tool: plain HTML, no script, nothing from a CDN, in the CRM's own words."""

from __future__ import annotations

from datetime import datetime
from html import escape

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #0f172a; background: #f8fafc; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.muted { color: #64748b; } .notes { background: #fff; border: 1px solid #cbd5e1; padding: 8px 14px; }
.notes li { margin: 2px 0; } code { background: #e2e8f0; padding: 0 4px; border-radius: 3px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border: 1px solid #cbd5e1; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #e2e8f0; }
"""


def when(moment: datetime) -> str:
    """A moment in this machine's time zone, to the second."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def render(
    *, title: str, subtitle: str, notes: list[str], sections: list[tuple[str, list[str], list[list]]]
) -> bytes:
    """The page: a title, notes (how to connect), then per section a heading and a table; every value escaped.
    It reloads itself every 10 seconds, to follow beat sending our statuses."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta http-equiv='refresh' content='10'>",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class='muted'>{escape(subtitle)}</p>",
    ]
    if notes:
        parts.append("<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    for heading, columns, rows in sections:
        parts.append(f"<h2>{escape(heading)}</h2>")
        if not rows:
            parts.append("<p class='muted'>None yet.</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts).encode()
