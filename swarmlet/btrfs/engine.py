"""The Docker engine as `btrfs setup` sees it: is it up, which driver, save and load images."""

from __future__ import annotations

import os
import time

from swarmlet.btrfs.host import StepError


def _client(host: str | None, timeout: float = 30):
    import docker

    if host:
        return docker.DockerClient(base_url=host, timeout=timeout)
    return docker.from_env(timeout=timeout)


def info(host: str | None) -> dict | None:
    """The engine's /info, or None when no engine answers."""
    try:
        client = _client(host, timeout=10)
    except Exception:
        return None
    try:
        return client.info()
    except Exception:
        return None
    finally:
        client.close()


def wait_for_info(host: str | None, timeout: float = 90) -> dict:
    """Wait until the engine answers; returns its /info."""
    deadline = time.monotonic() + timeout
    while True:
        got = info(host)
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise StepError(f"the Docker engine ({host or 'default'}) did not answer in {timeout}s")
        time.sleep(0.5)


def tagged_images(host: str | None) -> tuple[list[str], int]:
    """Every tag the engine holds, and the images' total size (an upper bound for a save)."""
    client = _client(host)
    try:
        tags, size = [], 0
        for image in client.images.list():
            if image.tags:
                tags.extend(image.tags)
                size += int(image.attrs.get("Size") or 0)
        return tags, size
    finally:
        client.close()


def save_images(host: str | None, tags: list[str], path: str) -> None:
    """`docker save TAG...` into one tar (shared layers stored once)."""
    client = _client(host, timeout=600)
    try:
        api = client.api
        res = api._get(api._url("/images/get"), params={"names": tags}, stream=True)
        api._raise_for_status(res)
        with open(path, "wb") as f:
            for chunk in res.iter_content(chunk_size=1 << 20):
                f.write(chunk)
    except StepError:
        raise
    except Exception as e:
        raise StepError(f"saving images failed: {e}") from None
    finally:
        client.close()


def load_images(host: str | None, path: str) -> None:
    client = _client(host, timeout=600)
    try:
        with open(path, "rb") as f:
            client.images.load(f)
    except Exception as e:
        raise StepError(f"loading images failed: {e}") from None
    finally:
        client.close()


def owns_root(info: dict | None, root: str) -> bool:
    """Whether a running engine uses `root` as its data root."""
    engine_root = (info or {}).get("DockerRootDir")
    return bool(engine_root) and os.path.realpath(engine_root) == os.path.realpath(root)
