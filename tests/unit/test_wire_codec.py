"""Strict CBOR decoding and the schema helper."""

import cbor2
import pytest

from swarmlet.wire.codec import DecodeError, decode, encode
from swarmlet.wire.schema import Field, Schema, SchemaError


def test_plain_values_round_trip():
    value = {"a": [1, -2, "x", b"y", None, True, 1.5], "b": {"c": 3}}
    assert decode(encode(value)) == value


@pytest.mark.parametrize(
    "data,why",
    [
        (cbor2.dumps(1) + b"\x00", "trailing"),
        (b"\xa2\x61a\x01\x61a\x02", "duplicate"),
        (b"\x9f\x01\xff", "indefinite"),
        (cbor2.dumps(2**100), "tags"),
        (cbor2.dumps(cbor2.CBORTag(999, 1)), "tags"),
        (cbor2.dumps({1, 2}), "tags"),
        (b"\xd8\x1c\x81\xd8\x1d\x00", "tags"),
        (b"\x81" * 40 + b"\x00", "depth"),
        (b"", "empty"),
        (b"\xf7", "undefined"),
        (b"\xa1\x01\x02", "key"),
        (b"\x5a\xff\xff\xff\xff", "invalid"),
    ],
)
def test_hostile_cbor_refused(data, why):
    with pytest.raises(DecodeError):
        decode(data)


def test_size_cap():
    with pytest.raises(DecodeError, match="exceeds"):
        decode(encode(b"x" * 2000), max_size=1000)


PING = Schema(
    seq=Field(int, min=0, max=10),
    note=Field(str, max_len=5, optional=True),
    tags=Field(list, max_len=3, items=Field(str), optional=True),
    inner=Schema(x=Field(bytes)),
)


def test_schema_accepts_and_refuses():
    ok = {"seq": 1, "inner": {"x": b""}, "tags": ["a"]}
    assert PING.validate(ok) == ok
    bad = [
        ({"inner": {"x": b""}}, "missing field 'seq'"),
        ({"seq": True, "inner": {"x": b""}}, "got bool"),
        ({"seq": 11, "inner": {"x": b""}}, "above"),
        ({"seq": -1, "inner": {"x": b""}}, "below"),
        ({"seq": 1, "note": "toolong", "inner": {"x": b""}}, "longer"),
        ({"seq": 1, "inner": {"x": "s"}}, r"message.inner.x: expected bytes"),
        ({"seq": 1, "inner": {"x": b""}, "tags": [1]}, r"tags\[0\]"),
        ({"seq": 1, "inner": {"x": b""}, "zz": 1}, "unknown field"),
        ([1], "expected a map"),
    ]
    for msg, match in bad:
        with pytest.raises(SchemaError, match=match):
            PING.validate(msg)
