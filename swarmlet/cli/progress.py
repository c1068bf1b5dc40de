"""What `service create|update|scale|rollback` show without `-d`: the tasks converging, as
docker does (`overall progress: 2 out of 3 tasks`, one line per slot or node, then a wait to
verify the tasks are stable). On a terminal the lines are redrawn; otherwise each change is
printed once. Returns the exit code: 1 when the update paused or rolled back.
"""

from __future__ import annotations

import sys
import time

NANOS = 1_000_000_000
POLL = 0.2


def _tasks(api, service_id: str) -> list[dict]:
    return api.get("/tasks", filters={"service": {service_id: True}}) or []


def _state_lines(service: dict, tasks: list[dict]) -> tuple[list[str], int, int]:
    """(lines, done, wanted) for the service's current spec."""
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    template = spec.get("TaskTemplate")
    live = [t for t in tasks if t.get("DesiredState") in ("running", "ready")]
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        job = mode.get("ReplicatedJob") or {}
        wanted = int(job.get("TotalCompletions") or job.get("MaxConcurrent") or 1)
        if "GlobalJob" in mode:
            wanted = len({t.get("NodeID") for t in tasks if t.get("NodeID")}) or 1
        done = sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "complete")
        return [f"job progress: {done} out of {wanted} complete"], done, wanted
    by_key: dict[str, dict] = {}
    for t in sorted(live, key=lambda t: t.get("CreatedAt") or ""):
        by_key[str(t.get("Slot") or t.get("NodeID", ""))] = t
    if "Global" in mode:
        keys = sorted(by_key)
        wanted = len(keys)
    else:
        wanted = int((mode.get("Replicated") or {}).get("Replicas", 1))
        keys = [str(i) for i in range(1, wanted + 1)]
    lines, done = [], 0
    for i, key in enumerate(keys, start=1):
        task = by_key.get(key)
        state = ((task or {}).get("Status") or {}).get("State") or "new"
        current = task is not None and task.get("Spec") == template
        if state == "running" and current:
            done += 1
        label = f"{i}/{wanted}" if "Global" not in mode else key[:12]
        lines.append(f"{label}: {state if task else 'new'}")
    return lines, done, wanted


def wait_for_convergence(api, service_id: str, args=None, out=None, clock=time.monotonic) -> int:
    out = out or sys.stdout
    tty = out.isatty()
    drawn = 0
    last: list[str] | None = None
    stable_since = None
    while True:
        service = api.get(f"/services/{service_id}")
        status = service.get("UpdateStatus") or {}
        if status.get("State") in ("paused", "rollback_paused", "rollback_completed"):
            message = status.get("Message") or status.get("State")
            print(f"update {status.get('State')}: {message}", file=sys.stderr)
            return 1
        lines, done, wanted = _state_lines(service, _tasks(api, service_id))
        converged = done >= wanted and status.get("State") not in ("updating", "rollback_started")
        header = (
            lines.pop(0) if lines and lines[0].startswith("job") else
            f"overall progress: {done} out of {wanted} tasks"
        )  # fmt: skip
        view = [header, *lines]
        monitor = ((service.get("Spec") or {}).get("UpdateConfig") or {}).get("Monitor")
        wait = (monitor if monitor is not None else 5 * NANOS) / NANOS
        if converged:
            stable_since = stable_since or clock()
            left = wait - (clock() - stable_since)
            if left <= 0:
                view.append("verify: Service converged")
            else:
                view.append(
                    f"verify: Waiting {max(int(left + 0.999), 1)} seconds to verify that tasks are stable..."
                )
        else:
            stable_since = None
        if view != last:
            if tty and drawn:
                out.write(f"\x1b[{drawn}A\x1b[J")
            if tty or last is None:
                out.write("\n".join(view) + "\n")
                drawn = len(view)
            else:
                changed = [line for line in view if line not in (last or [])]
                out.write("\n".join(changed) + "\n")
            out.flush()
            last = view
        if converged and view[-1] == "verify: Service converged":
            return 0
        time.sleep(POLL)
