"""The docker executor: a task's container through the docker SDK, the way Swarm's worker
makes it (name `svc.slot.taskid`, the `com.docker.swarm.*` labels, the spec's settings).

The SDK is synchronous: every call runs in a worker thread, bounded by a limiter no larger
than the SDK's connection pool. Image pulls are shared: tasks that need the same image on
this node wait for one pull.
"""

from __future__ import annotations

import logging

import docker
import docker.errors
import docker.types
import trio
from docker.models.containers import _create_container_args as create_args

from swarmlet import trace
from swarmlet.store import objects
from swarmlet.worker.controller import Container

log = logging.getLogger(__name__)

NANOS = 1_000_000_000
POOL = 16
LABEL_NODE = "com.docker.swarm.node.id"
LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_TASK = "com.docker.swarm.task"
LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_TASK_NAME = "com.docker.swarm.task.name"


class ExecutorError(Exception):
    """An engine operation failed; the message is what `service ps` shows as ERROR."""


def service_name(task: dict) -> str:
    return (task.get("ServiceAnnotations") or {}).get("Name") or task.get("ServiceID", "")


def container_name(task: dict) -> str:
    """Docker's `svc.slot.taskid` (replicated) or `svc.nodeid.taskid` (global)."""
    return objects.task_name(task, service_name(task))


def container_labels(task: dict, node_id: str) -> dict[str, str]:
    spec = (task.get("Spec") or {}).get("ContainerSpec") or {}
    labels = dict(spec.get("Labels") or {})
    labels.update(
        {
            LABEL_NODE: node_id,
            LABEL_SERVICE_ID: task.get("ServiceID", ""),
            LABEL_SERVICE_NAME: service_name(task),
            LABEL_TASK: "",
            LABEL_TASK_ID: task["ID"],
            LABEL_TASK_NAME: container_name(task),
        }
    )
    return labels


def _mount(m: dict) -> docker.types.Mount:
    kind = (m.get("Type") or "volume").lower()
    kwargs = {}
    if kind == "volume":
        opts = m.get("VolumeOptions") or {}
        driver = opts.get("DriverConfig") or {}
        kwargs.update(
            no_copy=bool(opts.get("NoCopy")),
            labels=opts.get("Labels") or None,
            driver_config=docker.types.DriverConfig(driver["Name"], driver.get("Options"))
            if driver.get("Name")
            else None,
        )
    elif kind == "tmpfs":
        opts = m.get("TmpfsOptions") or {}
        kwargs.update(tmpfs_size=opts.get("SizeBytes"), tmpfs_mode=opts.get("Mode"))
    elif kind == "bind":
        opts = m.get("BindOptions") or {}
        kwargs.update(propagation=opts.get("Propagation"))
    return docker.types.Mount(
        target=m["Target"],
        source=m.get("Source") or None,
        type=kind,
        read_only=bool(m.get("ReadOnly")),
        **kwargs,
    )


def create_options(task: dict, node_id: str) -> dict:
    """Keyword arguments of `containers.create` for a task."""
    spec = task.get("Spec") or {}
    cs = spec.get("ContainerSpec") or {}
    limits = (spec.get("Resources") or {}).get("Limits") or {}
    opts: dict = {
        "image": cs["Image"],
        "name": container_name(task),
        "labels": container_labels(task, node_id),
        "environment": list(cs.get("Env") or []),
        "hostname": cs.get("Hostname") or None,
        "working_dir": cs.get("Dir") or None,
        "user": cs.get("User") or None,
        "mounts": [_mount(m) for m in cs.get("Mounts") or []],
        "init": cs.get("Init") if cs.get("Init") is not None else None,
        "read_only": bool(cs.get("ReadOnly")),
        "stop_signal": cs.get("StopSignal") or None,
        "tty": bool(cs.get("TTY")),
        "cap_add": cs.get("CapabilityAdd") or None,
        "cap_drop": cs.get("CapabilityDrop") or None,
    }
    if cs.get("Command"):
        opts["entrypoint"] = list(cs["Command"])
    if cs.get("Args"):
        opts["command"] = list(cs["Args"])
    if limits.get("NanoCPUs"):
        opts["nano_cpus"] = int(limits["NanoCPUs"])
    if limits.get("MemoryBytes"):
        opts["mem_limit"] = int(limits["MemoryBytes"])
    if limits.get("Pids"):
        opts["pids_limit"] = int(limits["Pids"])
    health = cs.get("Healthcheck")
    if health:
        opts["healthcheck"] = {
            k: v
            for k, v in {
                "test": health.get("Test"),
                "interval": health.get("Interval"),
                "timeout": health.get("Timeout"),
                "retries": health.get("Retries"),
                "start_period": health.get("StartPeriod"),
            }.items()
            if v
        }
    ports = {}
    for p in (task.get("Endpoint") or {}).get("Ports") or []:
        if p.get("PublishMode") == "host" and p.get("TargetPort"):
            key = f"{p['TargetPort']}/{p.get('Protocol') or 'tcp'}"
            ports[key] = p.get("PublishedPort") or None
    if ports:
        opts["ports"] = ports
    return {k: v for k, v in opts.items() if v is not None}


def observe_attrs(attrs: dict) -> Container:
    state = attrs.get("State") or {}
    running = bool(state.get("Running"))
    exited = not running and state.get("Status") in ("exited", "dead")
    health = (state.get("Health") or {}).get("Status")
    return Container(
        running=running,
        exit_code=int(state.get("ExitCode", 0)) if exited else None,
        health=health if health in ("starting", "healthy", "unhealthy") else None,
        error=state.get("Error") or "",
        id=attrs.get("Id") or "",
        pid=int(state.get("Pid") or 0),
    )


def is_pinned(image: str) -> bool:
    """An image named by digest (`name@sha256:...`) or by ID (`sha256:...`): it cannot change."""
    return "@" in image or image.startswith("sha256:")


class _SharedPull:
    """One pull of an image and its outcome, for every task that waited on it."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.error: str | None = "pull did not finish"


class DockerExecutor:
    """The engine operations a task controller needs."""

    def __init__(self, node_id: str, client: docker.DockerClient | None = None):
        self.node_id = node_id
        self.client = client or docker.from_env(timeout=120, max_pool_size=POOL)
        self.limiter = trio.CapacityLimiter(POOL)
        self._pulls: dict[str, _SharedPull] = {}

    async def _run(self, fn, *args, **kwargs):
        return await trio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=self.limiter)

    async def observe(self, task: dict) -> Container | None:
        try:
            attrs = await self._run(self.client.api.inspect_container, container_name(task))
        except docker.errors.NotFound:
            return None
        return observe_attrs(attrs)

    async def _pull(self, image: str) -> None:
        """Make sure the engine has the image: pulled once per image at a time (tasks that
        need it meanwhile share the pull and its outcome); a local image is used when the
        pull fails, as Swarm does. As in Swarm, an image pinned by digest that is present
        is not pulled again (a tag is: the registry may have moved it)."""
        shared = self._pulls.get(image)
        if shared is None:
            shared = self._pulls[image] = _SharedPull()
            try:
                shared.error = await self._fetch(image)
            finally:
                del self._pulls[image]
                shared.done.set()
        else:
            await shared.done.wait()
        if shared.error:
            raise ExecutorError(shared.error)

    async def _fetch(self, image: str) -> str | None:
        """Pull `image` unless pinned and present; what is wrong when the engine does not
        have it after all, else None."""
        if is_pinned(image) and await self._has_image(image):
            return None
        try:
            # errors can also arrive inside the pull's output stream: the check below
            # looks at what the engine has, whatever the pull said
            await self._run(self.client.api.pull, image)
        except docker.errors.APIError as exc:
            log.info("pull of %s failed: %s", image, exc.explanation or exc)
        return None if await self._has_image(image) else f"No such image: {image}"

    async def _has_image(self, image: str) -> bool:
        try:
            await self._run(self.client.api.inspect_image, image)
        except docker.errors.ImageNotFound:
            return False
        return True

    async def prepare(self, task: dict) -> Container | None:
        """Pull and create; the container made (None when it existed already)."""
        image = task["Spec"]["ContainerSpec"]["Image"]
        await self._pull(image)
        trace.mark("task.image", task=task["ID"])
        opts = create_options(task, self.node_id)
        opts["version"] = self.client.api._version
        try:
            # the SDK's own translation of `containers.create` arguments, without the
            # inspect that `containers.create` adds to build its Container object
            made = await self._run(self.client.api.create_container, **create_args(opts))
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # made before a restart of the worker: keep it
                return None
            raise ExecutorError(str(exc.explanation or exc)) from exc
        trace.mark("task.created", task=task["ID"])
        return Container(id=made.get("Id") or "")

    async def start(self, task: dict) -> None:
        try:
            await self._run(self.client.api.start, container_name(task))
        except docker.errors.APIError as exc:
            raise ExecutorError(str(exc.explanation or exc)) from exc
        trace.mark("task.started", task=task["ID"])

    async def stop(self, task: dict) -> None:
        cs = (task.get("Spec") or {}).get("ContainerSpec") or {}
        grace = cs.get("StopGracePeriod")
        timeout = 10 if grace is None else max(int(grace) // NANOS, 0)
        try:
            await self._run(self.client.api.stop, container_name(task), timeout=timeout)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise ExecutorError(str(exc.explanation or exc)) from exc

    async def remove(self, task_or_name) -> None:
        name = task_or_name if isinstance(task_or_name, str) else container_name(task_or_name)
        try:
            await self._run(self.client.api.remove_container, name, force=True, v=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise ExecutorError(str(exc.explanation or exc)) from exc

    async def _containers_of_task(self, task_id: str) -> list[dict]:
        return await self._run(
            self.client.api.containers, all=True, filters={"label": f"{LABEL_TASK_ID}={task_id}"}
        )

    async def find_task_container(self, task_id: str) -> str | None:
        """The ID of the container a task made on this node (running or not), if any."""
        found = await self._containers_of_task(task_id)
        return found[0]["Id"] if found else None

    async def remove_task_container(self, task_id: str) -> None:
        """Stop (with the default grace period) and remove whatever container a task left."""
        for c in await self._containers_of_task(task_id):
            try:
                await self._run(self.client.api.stop, c["Id"], timeout=10)
            except docker.errors.APIError:
                pass
            await self.remove(c["Id"])

    async def task_containers(self) -> dict[str, str]:
        """Containers of this node's tasks, by task ID: what a restarted worker adopts."""
        found = await self._run(
            self.client.api.containers, all=True, filters={"label": f"{LABEL_NODE}={self.node_id}"}
        )
        out = {}
        for c in found:
            task_id = (c.get("Labels") or {}).get(LABEL_TASK_ID)
            if task_id:
                out[task_id] = (c.get("Names") or ["/"])[0].lstrip("/")
        return out

    def events(self):
        """A blocking iterator of this node's task container events (run it in a thread)."""
        client = docker.from_env(timeout=None)
        stream = client.events(
            decode=True,
            filters={"type": "container", "label": f"{LABEL_NODE}={self.node_id}"},
        )
        return client, stream
