"""Reads of the agents app: agents (`agents`) and their sessions (`sessions`)."""

from apps.agents.selectors.agents import agent_get, agent_list, agent_stats, agent_status_counts
from apps.agents.selectors.sessions import session_agent_check, session_get

__all__ = ["agent_get", "agent_list", "agent_stats", "agent_status_counts", "session_agent_check", "session_get"]
