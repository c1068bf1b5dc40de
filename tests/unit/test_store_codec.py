import cbor2
import pytest

from swarmlet.store import codec


def test_round_trip_keeps_key_order():
    value = {"b": 1, "a": [1.5, "x", None, True], "c": {"z": 0, "y": -1}}
    back = codec.decode(codec.encode(value))
    assert back == value and list(back) == ["b", "a", "c"]
    assert list(codec.decode(codec.encode(value, canonical=True))) == ["a", "b", "c"]


def _deep(n):
    value = []
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    "data",
    [
        codec.encode(1) + b"\x00",  # trailing bytes
        cbor2.dumps(2**80),  # bignum tag
        cbor2.dumps(cbor2.CBORTag(28, 1)),  # shared value
        cbor2.dumps(cbor2.CBORTag(1234, "x")),  # unknown tag
        b"\x9f\x01\xff",  # indefinite array
        b"\xa2\x61a\x01\x61a\x02",  # duplicate key
        cbor2.dumps(_deep(codec.MAX_DEPTH + 5)),
        b"\x1b",  # truncated
        "text",
    ],
)
def test_strict_decoding_refuses(data):
    with pytest.raises(codec.DecodeError):
        codec.decode(data)
