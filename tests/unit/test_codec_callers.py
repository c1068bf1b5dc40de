"""The wire, the store and gossip decode through one strict decoder, each at its own limits."""

import cbor2
import pytest

from swarmlet import codec
from swarmlet.gossip import transport
from swarmlet.store import codec as store_codec
from swarmlet.wire import codec as wire_codec


def test_wire_is_the_shared_decoder():
    assert wire_codec.decode is codec.decode and wire_codec.DecodeError is codec.DecodeError


@pytest.mark.parametrize(
    "frame",
    [
        cbor2.dumps({"t": cbor2.CBORTag(2, b"\x01" * 10)}),  # bignum tag
        cbor2.dumps({1: "x"}),  # a key that is not a string
        cbor2.dumps({"t": "x"}) + b"\x00",  # trailing bytes
        cbor2.dumps([1]),  # not a map
        b"\x00" * (transport.MAX_FRAME + 1),
    ],
)
def test_gossip_refuses_with_its_own_error(frame):
    with pytest.raises(transport.BadFrame):
        transport.decode(frame)


def test_gossip_round_trip():
    msg = {"t": "ping", "from": "n1", "seq": 7, "m": [{"id": "n2", "inc": 1}]}
    assert transport.decode(transport.encode(msg)) == msg


def test_store_has_no_size_cap_and_its_own_error():
    big = ["x" * 1024] * 1100  # more than a wire frame may hold
    assert store_codec.decode(store_codec.encode(big)) == big
    with pytest.raises(store_codec.DecodeError):
        store_codec.decode(cbor2.dumps(cbor2.CBORTag(1, 0)))
    assert not issubclass(store_codec.DecodeError, codec.DecodeError)
