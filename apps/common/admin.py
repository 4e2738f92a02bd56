"""Read-only HTML pieces the admin screens of every app share: JSON, tables, an object's change history."""

from __future__ import annotations

import json
from typing import Any

from auditlog.models import LogEntry
from django.utils.html import format_html, format_html_join


def pretty_json(value: Any) -> str:
    """A JSON value indented and wrapped, scrolling when long (reports can be thousands of lines)."""
    return format_html('<pre style="white-space: pre-wrap; margin: 0; max-height: 40em; overflow: auto">{}</pre>',
                       json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def html_table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def history_table(obj: Any, limit: int = 20) -> str:
    """The object's last auditlog entries (who, when, what changed), newest first."""
    entries = LogEntry.objects.get_for_object(obj).select_related("actor").order_by("-timestamp")[:limit]
    return html_table(
        ["when", "action", "by", "changes"],
        [[e.timestamp.strftime("%Y-%m-%d %H:%M:%S"), e.get_action_display(), e.actor or "system",
          format_html("<code>{}</code>", json.dumps(e.changes_dict, ensure_ascii=False)[:500])] for e in entries],
    )
