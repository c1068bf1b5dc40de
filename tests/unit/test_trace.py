"""Trace marks: the line a mark writes is the line the bench reads back."""

import logging

from swarmlet import trace


def test_a_mark_line_parses_back_to_its_event_time_and_fields(caplog, monkeypatch):
    monkeypatch.setattr(trace, "ENABLED", True)
    with caplog.at_level(logging.DEBUG, logger="swarmlet.trace"):
        trace.mark("assignments.received", tasks=["t1", "t2"], n=2)
    (record,) = caplog.records
    line = f"2026-11-27T20:00:00.000Z DEBUG {record.name}: {record.getMessage()}"
    event, wall, fields = trace.parse(line)
    assert event == "assignments.received"
    assert abs(wall - record.created) < 1.0
    assert fields == {"tasks": "t1,t2", "n": "2"}


def test_marks_are_silent_unless_enabled(caplog, monkeypatch):
    monkeypatch.setattr(trace, "ENABLED", False)
    with caplog.at_level(logging.DEBUG, logger="swarmlet.trace"):
        trace.mark("task.state", task="t1", state="running")
    assert caplog.records == []


def test_other_log_lines_are_not_marks():
    assert trace.parse("2026-11-27T20:00:00.000Z INFO swarmlet.daemon: trace of nothing") is None
    assert trace.parse("2026-11-27T20:00:00.000Z DEBUG swarmlet.trace: trace x t=abc") is None
