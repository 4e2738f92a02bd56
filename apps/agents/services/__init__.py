"""Writes of the agents app: agents (`agents`), their sessions (`sessions`), status events (`status`)."""

from apps.agents.services.agents import (
    UPDATABLE_FIELDS,
    agent_create,
    agent_delete,
    agent_update,
    parse_if_match,
)
from apps.agents.services.sessions import session_end, session_put, session_update
from apps.agents.services.status import (
    AGENT_STATUS_CHANNEL,
    agent_status_channel,
    agent_status_message,
    agent_status_publish,
)

__all__ = [
    "AGENT_STATUS_CHANNEL", "UPDATABLE_FIELDS", "agent_create", "agent_delete", "agent_status_channel",
    "agent_status_message",
    "agent_status_publish", "agent_update", "parse_if_match", "session_end", "session_put", "session_update",
]
