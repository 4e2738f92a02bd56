"""The `listen` command (any pub/sub channel; agent status events are tested in apps.agents)."""

import io
import threading

import pytest
from django.core.management import CommandError, call_command

from apps.platform.cache import channel_publish


def test_listen_validates_its_options():
    with pytest.raises(CommandError, match="count"):
        call_command("listen", "x", count=0)
    with pytest.raises(CommandError, match="timeout"):
        call_command("listen", "x", timeout=-1)


@pytest.mark.django_db(transaction=True)  # channel_publish sends on commit: autocommit here
def test_listen_prints_each_message_of_its_channel_only():
    out = io.StringIO()
    done = threading.Event()

    def run():
        call_command("listen", "listen:test", count=2, timeout=5, stdout=out, stderr=io.StringIO())
        done.set()

    t = threading.Thread(target=run)
    t.start()
    while not done.wait(0.05):  # a subscriber only hears what follows its SUBSCRIBE: keep publishing
        channel_publish("other:channel", "not for us")
        channel_publish("listen:test", "hello")
    t.join(5)
    assert out.getvalue().splitlines()[:2] == ["hello", "hello"]
