"""The checker itself: it must accept valid histories and reject stale reads and lost writes."""

import math

import pytest

from .linearizability import NotLinearizable, Op, check_history


def test_sequential_history_is_linearizable():
    check_history(
        [
            Op("a", "put", "k", "1", 0, 1),
            Op("b", "get", "k", "1", 2, 3),
            Op("a", "put", "k", "2", 4, 5),
            Op("b", "get", "k", "2", 6, 7),
        ]
    )


def test_concurrent_ops_may_take_either_order():
    check_history(
        [
            Op("a", "put", "k", "1", 0, 10),
            Op("b", "get", "k", None, 1, 2),
            Op("c", "get", "k", "1", 3, 4),
            Op("b", "get", "k", "1", 5, 6),
        ]
    )


def test_stale_read_is_rejected():
    with pytest.raises(NotLinearizable):
        check_history(
            [
                Op("a", "put", "k", "1", 0, 1),
                Op("a", "put", "k", "2", 2, 3),
                Op("b", "get", "k", "1", 4, 5),
            ]
        )


def test_lost_acknowledged_write_is_rejected():
    with pytest.raises(NotLinearizable):
        check_history([Op("a", "put", "k", "1", 0, 1), Op("b", "get", "k", None, 2, 3)])


def test_timed_out_write_may_or_may_not_have_happened():
    check_history(
        [
            Op("a", "put", "k", "1", 0, math.inf),
            Op("b", "get", "k", None, 1, 2),
            Op("b", "get", "k", "1", 3, 4),
        ]
    )
    check_history([Op("a", "put", "k", "1", 0, math.inf), Op("b", "get", "k", None, 10, 11)])


def test_reads_cannot_flip_back():
    with pytest.raises(NotLinearizable):
        check_history(
            [
                Op("a", "put", "k", "1", 0, 100),
                Op("b", "get", "k", "1", 1, 2),
                Op("b", "get", "k", None, 3, 4),
            ]
        )
