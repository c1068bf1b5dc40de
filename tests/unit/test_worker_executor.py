"""The docker executor's image handling, over a stand-in for the SDK's low-level client."""

from __future__ import annotations

import docker.errors
import pytest
import trio

from swarmlet.worker.docker_executor import DockerExecutor, ExecutorError, is_pinned


class FakeAPI:
    """`pull` and `inspect_image` of docker's APIClient, on a set of image names."""

    def __init__(self, images: set[str], registry: set[str]) -> None:
        self.images = images
        self.registry = registry
        self.pulls: list[str] = []

    def pull(self, image):
        self.pulls.append(image)
        if image not in self.registry:
            raise docker.errors.APIError(f"manifest for {image} not found")
        self.images.add(image)

    def inspect_image(self, image):
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return {"Id": "sha256:abc"}


class FakeClient:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api


def executor(images=(), registry=()) -> tuple[DockerExecutor, FakeAPI]:
    api = FakeAPI(set(images), set(registry))
    return DockerExecutor("node1", client=FakeClient(api)), api


def test_pinned_references():
    assert is_pinned("busybox:latest@sha256:" + "a" * 64)
    assert is_pinned("sha256:" + "a" * 64)
    assert not is_pinned("busybox:latest")
    assert not is_pinned("198.18.0.1:5000/busybox")


@pytest.mark.anyio
async def test_tasks_that_need_an_image_at_once_share_one_pull():
    ex, api = executor(registry={"busybox:latest"})
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(ex._pull, "busybox:latest")
    assert api.pulls == ["busybox:latest"]


@pytest.mark.anyio
async def test_a_tag_is_pulled_again_even_when_present():
    ex, api = executor(images={"busybox:latest"}, registry={"busybox:latest"})
    await ex._pull("busybox:latest")
    assert api.pulls == ["busybox:latest"]


@pytest.mark.anyio
async def test_an_image_pinned_by_digest_and_present_is_not_pulled():
    pinned = "busybox:latest@sha256:" + "a" * 64
    ex, api = executor(images={pinned})
    await ex._pull(pinned)
    assert api.pulls == []


@pytest.mark.anyio
async def test_a_failed_pull_uses_the_local_image_and_a_missing_one_fails_every_waiter():
    ex, api = executor(images={"local:1"})
    await ex._pull("local:1")  # the registry does not have it: the local copy does
    failures = []

    async def prepare_one():
        try:
            await ex._pull("gone:1")
        except ExecutorError as exc:
            failures.append(str(exc))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(prepare_one)
    assert failures == ["No such image: gone:1"] * 3
    assert api.pulls == ["local:1", "gone:1"]
