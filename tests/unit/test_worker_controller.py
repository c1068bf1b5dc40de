import pytest

from swarmlet.worker.controller import (
    PREPARE,
    REMOVE,
    START,
    STOP,
    Container,
    Status,
    decide,
    failure,
    needs_container,
)

RUNNING = Container(running=True, id="c1", pid=10)
CREATED = Container(id="c1")


def test_a_new_assignment_is_accepted_then_prepared():
    assert decide("assigned", "running", None).report == Status("accepted", "accepted")
    step = decide("accepted", "running", None)
    assert step.report == Status("preparing", "preparing")
    assert step.action == PREPARE and step.then == Status("ready", "prepared")


def test_ready_starts_unless_the_start_is_delayed():
    step = decide("ready", "running", CREATED)
    assert step.report.state == "starting" and step.action == START
    assert decide("ready", "ready", CREATED).action is None


def test_started_container_makes_the_task_running():
    assert decide("starting", "running", RUNNING).report == Status("running", "started")
    assert decide("running", "running", RUNNING).action is None


def test_healthcheck_holds_starting_until_healthy_and_unhealthy_fails():
    assert decide("starting", "running", Container(running=True, health="starting")).report is None
    ok = decide("starting", "running", Container(running=True, health="healthy"))
    assert ok.report.state == "running"
    bad = decide("running", "running", Container(running=True, health="unhealthy"))
    assert bad.action == STOP and bad.then == Status(
        "failed", "started", "task: container unhealthy"
    )


@pytest.mark.parametrize(
    "code,expect",
    [
        (0, Status("complete", "finished")),
        (3, Status("failed", "started", "task: non-zero exit (3)")),
    ],
)
def test_exit_codes(code, expect):
    assert decide("running", "running", Container(exit_code=code)).report == expect


def test_shutdown_stops_a_running_container_and_reports_it():
    step = decide("running", "shutdown", RUNNING)
    assert step.action == STOP and step.then == Status("shutdown", "shutdown")
    assert decide("running", "shutdown", Container(exit_code=0)).report.state == "shutdown"
    assert decide("pending", "shutdown", None).report.state == "shutdown"
    assert decide("shutdown", "shutdown", Container(exit_code=0)).action is None


def test_remove_deletes_the_container_after_shutdown():
    assert decide("running", "remove", RUNNING).action == STOP
    assert decide("shutdown", "remove", Container(exit_code=0)).action == REMOVE
    assert decide("shutdown", "remove", None).action is None


def test_ended_tasks_stay_ended():
    for state in ("complete", "failed", "rejected", "shutdown"):
        assert decide(state, "running", RUNNING).action is None
        assert decide(state, "running", RUNNING).report is None


def test_failures_before_starting_reject_after_fail():
    assert failure("preparing", "No such image: x").state == "rejected"
    assert failure("starting", "boom").state == "failed"


def test_a_vanished_container_fails_the_task():
    assert decide("running", "running", None).report.state == "failed"
    assert decide("ready", "running", None).report.state == "rejected"


def test_after_a_worker_restart_a_started_container_is_observed_not_restarted():
    step = decide("ready", "running", RUNNING)
    assert step.action is None and step.report.state == "starting"


@pytest.mark.parametrize("current", ["new", "pending", "assigned", "accepted"])
def test_a_task_not_yet_prepared_is_decided_without_its_container(current):
    assert not needs_container(current, "running")
    assert decide(current, "running", None) == decide(current, "running", RUNNING)


def test_the_container_is_needed_once_prepared_or_when_the_task_must_stop():
    assert needs_container("preparing", "running")
    assert needs_container("ready", "running")
    assert needs_container("running", "running")
    assert needs_container("accepted", "shutdown")
    assert needs_container("new", "remove")
