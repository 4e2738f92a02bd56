"""The fast round trip (`wire.roundtrip`) against redis-py's pipeline, and the codec's round trips."""

import enum
import pickle

import pytest
from django.core.cache import cache
from redis.exceptions import ResponseError

from apps.platform.cache.codec import Codec, Encoded
from apps.platform.cache.wire import get_with_pttl, roundtrip


class Level(enum.IntEnum):
    HIGH = 3


@pytest.fixture
def r():
    client = cache.client.get_client(write=True)
    client.delete("wire:a", "wire:b", "wire:set")
    yield client
    client.delete("wire:a", "wire:b", "wire:set")


def _normalise(reply):
    if isinstance(reply, ResponseError):
        return ("error", str(reply))
    return reply is True or reply == b"OK" if reply in (True, b"OK") else reply


def test_both_paths_give_the_same_replies_errors_included(r):
    r.sadd("wire:set", "m")
    commands = [("SET", "wire:a", b"x", "PX", 60_000), ("GET", "wire:a"), ("PTTL", "wire:a"), ("GET", "wire:none"),
                ("SET", "wire:b", 5), ("INCRBY", "wire:b", 2), ("GET", "wire:set"), ("PUBLISH", "wire:chan", "hi"),
                ("UNLINK", "wire:b")]
    fast = roundtrip(r, commands, fast=True)
    r.delete("wire:a", "wire:b")
    stock = roundtrip(r, commands, fast=False)
    assert len(fast) == len(stock) == len(commands)
    ttl_fast, ttl_stock = fast.pop(2), stock.pop(2)
    assert 59_000 < ttl_fast <= 60_000 and 59_000 < ttl_stock <= 60_000
    assert [_normalise(x) for x in fast] == [_normalise(x) for x in stock]
    assert isinstance(fast[5], ResponseError)  # WRONGTYPE came back as a value, later replies still read
    assert r.ping()  # and the connection went back to the pool clean


def test_get_with_pttl_fast_and_stock_agree(r):
    r.set("wire:a", "é".encode(), px=60_000)
    for key in ("wire:a", "wire:none", "wire:é"):
        fast, stock = get_with_pttl(r, key, fast=True), get_with_pttl(r, key, fast=False)
        assert fast[0] == stock[0] and abs(fast[1] - stock[1]) < 1000
    r.sadd("wire:set", "m")
    assert isinstance(get_with_pttl(r, "wire:set")[0], ResponseError)
    assert r.ping()


def test_codec_round_trips_as_every_process_reads_it():
    codec = Codec({})
    for value in (1, -5, 2**63 - 1, 2**63, True, 1.5, "s", b"b", None, [1, 2], {"a": 1}, Level.HIGH):
        payload = codec.encode(value)
        wire = str(payload).encode() if type(payload) is int else payload  # what Redis hands back
        back = codec.decode(wire)
        assert back == value and type(back) is type(value), value
        stored = codec.l1_form(value, payload)
        assert type(codec.from_l1(stored)) is type(value)
    assert type(codec.l1_form(Level.HIGH, codec.encode(Level.HIGH))) is Encoded  # not the object itself
    assert pickle.loads(codec.encode(Level.HIGH)) is Level.HIGH  # pickled, not stored as its repr


def test_a_mutated_result_does_not_change_the_cached_copy():
    cache.set("wire:doc", {"n": 1})
    cache.get("wire:doc")["n"] = 2
    assert cache.get("wire:doc") == {"n": 1}
    cache.delete("wire:doc")
