"""Trace marks: what a mark writes to the log is what the bench reads back."""

import logging

from swarmlet import trace


def _logged_lines(caplog) -> list[str]:
    return [line for r in caplog.records for line in r.getMessage().splitlines()]


def test_a_mark_written_to_the_log_parses_back_to_its_event_time_and_fields(caplog, monkeypatch):
    monkeypatch.setattr(trace, "ENABLED", True)
    monkeypatch.setattr(trace, "_writer", object())  # no background writer: flush by hand
    with caplog.at_level(logging.DEBUG, logger="swarmlet.trace"):
        trace.mark("assignments.received", tasks=["t1", "t2"], n=2)
        trace.mark("task.state", task="t1", state="running")
        assert caplog.records == []  # kept in memory until flushed
        trace.flush()
    marks = [m for m in map(trace.parse, _logged_lines(caplog)) if m is not None]
    assert [(e, f) for e, _, f in marks] == [
        ("assignments.received", {"tasks": "t1,t2", "n": "2"}),
        ("task.state", {"task": "t1", "state": "running"}),
    ]
    assert abs(marks[0][1] - caplog.records[0].created) < 5.0


def test_marks_are_not_kept_unless_enabled(caplog, monkeypatch):
    monkeypatch.setattr(trace, "ENABLED", False)
    with caplog.at_level(logging.DEBUG, logger="swarmlet.trace"):
        trace.mark("task.state", task="t1", state="running")
        trace.flush()
    assert caplog.records == []


def test_other_log_lines_are_not_marks():
    assert trace.parse("2026-11-27T20:00:00.000Z INFO swarmlet.daemon: trace of nothing") is None
    assert trace.parse("trace x t=abc") is None
    assert trace.parse("trace marks:") is None
