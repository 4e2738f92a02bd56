"""Agent status notifications on `agent:status`, heard through the `listen` command."""

import io
import json
import threading
import time

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.agents.services import AGENT_STATUS_CHANNEL, agent_status_publish


def _listen_while_publishing(publish, count=1, timeout=5.0) -> list[str]:
    """Run `listen` and keep publishing until it has printed (a subscriber only hears what follows)."""
    out = io.StringIO()
    done = threading.Event()

    def run():
        call_command("listen", AGENT_STATUS_CHANNEL, count=count, timeout=timeout, stdout=out, stderr=io.StringIO())
        done.set()

    t = threading.Thread(target=run)
    t.start()
    while not done.wait(0.05):
        publish()
    t.join(5)
    return [line for line in out.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)
def test_agent_status_change_is_published_as_documented_json():
    lines = _listen_while_publishing(lambda: agent_status_publish("a1b2", "active", "maintenance"), count=2)
    assert len(lines) == 2
    message = json.loads(lines[0])
    assert message["type"] == "agent.status"
    assert (message["agent_id"], message["old"], message["new"]) == ("a1b2", "active", "maintenance")
    assert {"at", "origin"} <= set(message)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_published_for_a_rolled_back_change():
    def publish_and_roll_back():
        try:
            with transaction.atomic():
                agent_status_publish("rolled", "active", "inactive")
                raise RuntimeError
        except RuntimeError:
            pass

    start = time.monotonic()
    lines = _listen_while_publishing(publish_and_roll_back, count=1, timeout=0.5)
    assert lines == [] and time.monotonic() - start < 3
