"""Image stages on the docker executor: build an image from a build's workspace on the
worker's side of the Docker API, reuse an identical one, tag it, push it.

The build container never gets the Docker socket: the worker reads the context out of the
build container's ``/workspace`` with ``get_archive`` (so files earlier stages made are in
it), repacks it without ``.git`` while hashing it (:mod:`ocelot.executors.image_context`), and
posts it to the daemon's ``/build`` itself. The response is read in a helper thread by
:func:`ocelot.executors.base.supervise`, each line handed to ``on_output`` as it comes; a kill
or timeout closes the HTTP connection, which makes the daemon cancel the build (and remove
its intermediate container: ``forcerm``).

Every image built here is labelled ``ocelot.context`` (the context digest) and
``ocelot.built_by`` (``acct/repo#build``). Reuse takes an image only when the runner vouches
for it (:attr:`ImageRequest.reusable`: made by a trusted build) *and* the daemon still has it
with the same label: a label alone is not trusted, since a Dockerfile can write any label.
"""

from __future__ import annotations

import base64
import contextlib
import json
import posixpath
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import docker
import requests
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import CancellableStream

from ocelot.errors import ExecutorError
from ocelot.executors.base import (
    ImageOutcome,
    ImageRequest,
    OutputCallback,
    RegistryLogin,
    StageOutcome,
    StopCheck,
    image_registry,
    supervise,
)
from ocelot.executors.docker_unpack import WORKSPACE
from ocelot.executors.image_context import (
    MOVED_DOCKERFILE,
    add_file,
    base_images,
    context_digest,
    ignore_patterns,
    repack,
)
from ocelot.pipeline.images import reference_registry_and_tag

LABEL_CONTEXT = "ocelot.context"
LABEL_BUILT_BY = "ocelot.built_by"


@dataclass
class _Seen:
    """What the reader thread found in Docker's JSON messages."""

    image_id: str | None = None
    digest: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Context:
    digest: str
    dockerfile: str  # its name inside the context tar
    dockerfile_text: str
    files: int


def build(
    client: docker.DockerClient,
    container: Container,
    request: ImageRequest,
    *,
    memory: int | None,
    on_output: OutputCallback,
    should_stop: StopCheck,
    timeout: float | None,
) -> ImageOutcome:
    """The whole image stage (module docstring); Docker API errors propagate."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def say(text: str) -> None:
        on_output((text + "\n").encode())

    with tempfile.TemporaryFile(prefix="ocelot-context-") as tar:
        context = _read_context(container, request, tar)
        refused = _refused_base(context.dockerfile_text, request.refused_registries)
        if refused is not None:
            say(refused)
            return ImageOutcome(StageOutcome(1, error=refused), context=context.digest)
        reused = _reusable(client, request, context.digest)
        if reused is not None:
            image_id, reused_from = reused
            say(
                f"reused image {_short(image_id)} (same Dockerfile and context as "
                f"{reused_from}): not built again"
            )
        else:
            reused_from = None
            say(
                f"building {request.dockerfile} in {request.context} on the worker "
                f"({context.files} entries, context {_short(context.digest)})"
            )
            tar.seek(0)
            seen = _Seen()
            labels = {**request.labels, LABEL_CONTEXT: context.digest}
            response = _post_build(client, tar, request, context.dockerfile, labels, memory)
            ended = _follow(response, seen, on_output, should_stop, deadline)
            if ended is not None:
                return ImageOutcome(ended, context=context.digest)
            if seen.error or not seen.image_id:
                error = f"docker build failed: {seen.error or 'no image id in the answer'}"
                return ImageOutcome(StageOutcome(1, error=error), context=context.digest)
            image_id = seen.image_id
            say(f"built image {_short(image_id)}")
    for tag in request.tags:
        repository, name, _ = reference_registry_and_tag(tag)
        client.api.tag(image_id, repository, name, force=True)
        say(f"tagged {tag}")
    pushed: dict[str, str] = {}
    for tag in request.push:
        assert request.push_login is not None
        seen = _Seen()
        response = _post_push(client, tag, request.push_login)
        ended = _follow(response, seen, on_output, should_stop, deadline)
        if ended is not None:
            return ImageOutcome(ended, image_id, context.digest, reused_from, pushed)
        if seen.error or not seen.digest:
            error = f"pushing {tag} failed: {seen.error or 'no digest in the answer'}"
            return ImageOutcome(StageOutcome(1, error=error), image_id, context.digest, None)
        pushed[tag] = seen.digest
        say(f"pushed {tag}@{seen.digest}")
    return ImageOutcome(StageOutcome(0), image_id, context.digest, reused_from, pushed)


def _short(image_id: str) -> str:
    return image_id[:19]  # "sha256:" and 12 hex digits, as `docker images` shows


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _follow(
    response: requests.Response,
    seen: _Seen,
    on_output: OutputCallback,
    should_stop: StopCheck,
    deadline: float | None,
) -> StageOutcome | None:
    """Stream ``response`` into the log; a StageOutcome when it was stopped, else None."""

    def abandon(*_: Any) -> None:
        # Shut the socket down (closing the response alone leaves it open while the reader
        # thread waits on it): the daemon cancels a build whose client went away.
        with contextlib.suppress(OSError, DockerException, AttributeError):
            CancellableStream(iter(()), response).close()
        response.close()

    result = supervise(
        _rendered(_messages(response), seen),
        on_output=on_output,
        should_stop=should_stop,
        timeout=_left(deadline),
        grace=0.0,
        send_signal=abandon,
        close=abandon,
    )
    abandon()
    if result.killed or result.timed_out:
        return StageOutcome(None, timed_out=result.timed_out, killed=result.killed)
    if result.error:
        return StageOutcome(None, error=result.error)
    return None


def _messages(response: requests.Response) -> Iterator[dict[str, Any]]:
    """Docker's JSON messages (one per line) as they arrive."""
    if response.status_code >= 400:
        try:
            message = response.json().get("message")
        except ValueError:
            message = response.text
        yield {"error": str(message or response.reason)}
        return
    pending = b""
    for chunk in response.iter_content(chunk_size=None):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield _decode(line)
    if pending.strip():
        yield _decode(pending)


def _decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        return {"stream": line.decode(errors="replace") + "\n"}
    return message if isinstance(message, dict) else {"stream": f"{message}\n"}


def _rendered(messages: Iterator[dict[str, Any]], seen: _Seen) -> Iterator[bytes]:
    """Log text of each message; ids, digests and errors go to ``seen``."""
    for message in messages:
        aux = message.get("aux")
        if isinstance(aux, dict):
            seen.image_id = aux.get("ID") or seen.image_id
            seen.digest = aux.get("Digest") or seen.digest
        if message.get("error"):
            seen.error = str(message["error"]).strip()
            yield f"error: {seen.error}\n".encode()
        elif isinstance(message.get("stream"), str):
            yield message["stream"].encode()
        elif message.get("status") and not message.get("progressDetail"):
            prefix = f"{message['id']}: " if message.get("id") else ""
            yield f"{prefix}{message['status']}\n".encode()


def _registry_config(logins: tuple[RegistryLogin, ...] | list[RegistryLogin]) -> str:
    config = {
        login.registry: {"username": login.username, "password": login.password} for login in logins
    }
    return base64.urlsafe_b64encode(json.dumps(config).encode()).decode()


def _post_build(
    client: docker.DockerClient,
    tar: IO[bytes],
    request: ImageRequest,
    dockerfile: str,
    labels: dict[str, str],
    memory: int | None,
) -> requests.Response:
    params: dict[str, Any] = {
        "dockerfile": dockerfile,
        "rm": "1",
        "forcerm": "1",  # the intermediate containers go, even when a step fails
        "pull": "0",
        "labels": json.dumps(labels),
        "buildargs": json.dumps(dict(request.build_args)),
    }
    if memory:
        params["memory"] = params["memswap"] = memory
    headers = {"Content-Type": "application/x-tar"}
    if request.logins:
        headers["X-Registry-Config"] = _registry_config(list(request.logins))
    api = client.api
    return api.post(  # streamed by hand so that a kill can close the connection
        api._url("/build"), params=params, data=tar, headers=headers, stream=True, timeout=None
    )


def _post_push(client: docker.DockerClient, tag: str, login: RegistryLogin) -> requests.Response:
    repository, name, _ = reference_registry_and_tag(tag)
    auth = {"username": login.username, "password": login.password}
    auth["serveraddress"] = login.registry
    header = base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
    api = client.api
    return api.post(
        api._url("/images/{0}/push", repository),
        params={"tag": name},
        headers={"X-Registry-Auth": header},
        stream=True,
        timeout=None,
    )


def _reusable(
    client: docker.DockerClient, request: ImageRequest, digest: str
) -> tuple[str, str] | None:
    """``(image id, built by)`` of a vouched-for image the daemon still has, else None."""
    candidate = request.reusable.get(digest)
    if candidate is None:
        return None
    try:
        image = client.images.get(candidate[0])
    except ImageNotFound:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return candidate if labels.get(LABEL_CONTEXT) == digest else None


def _refused_base(dockerfile: str, refused: frozenset[str]) -> str | None:
    """Why a ``FROM`` image may not be used (its registry's login is withheld), or None."""
    if not refused:
        return None
    for image in base_images(dockerfile):
        if "$" in image:
            return (
                f"FROM {image}: a base image named by a build argument is refused here, "
                "since this build may not use the logins of some registries "
                f"({', '.join(sorted(refused))})"
            )
        if image_registry(image) in refused:
            return (
                f"FROM {image}: it comes from {image_registry(image)}, whose login this "
                "build may not use (an untrusted build, or outside the credential's "
                "events/branches): Ocelot does not build on a copy another build pulled"
            )
    return None


def _read_context(container: Container, request: ImageRequest, out: IO[bytes]) -> _Context:
    """Write the context tar into ``out``; return its digest and where its Dockerfile is."""
    top = WORKSPACE if request.context == "." else f"{WORKSPACE}/{request.context}"
    inside = _inside(request.dockerfile, request.context)
    ignore = ignore_patterns(_read_optional(container, f"{top}/.dockerignore"))
    with tempfile.TemporaryFile(prefix="ocelot-workspace-") as raw:
        _fetch(container, top, raw, f"context {request.context}")
        found = repack(
            raw, posixpath.basename(top), out, keep=(inside,) if inside else (), ignore=ignore
        )
    if inside is not None:
        text = found.files.get(inside)
        if text is None:
            raise ExecutorError(f"dockerfile {request.dockerfile} is not in the workspace")
        name = inside
    else:
        text = _read_file(container, f"{WORKSPACE}/{request.dockerfile}", request.dockerfile)
        add_file(out, MOVED_DOCKERFILE, text)
        name = MOVED_DOCKERFILE
    digest = context_digest(found.entries, request.dockerfile, text, request.build_args)
    return _Context(digest, name, text.decode(errors="replace"), found.count)


def _inside(dockerfile: str, context: str) -> str | None:
    """The Dockerfile's path relative to the context, or None when it is outside it."""
    if context == ".":
        return dockerfile
    return dockerfile[len(context) + 1 :] if dockerfile.startswith(context + "/") else None


def _fetch(container: Container, path: str, out: IO[bytes], what: str) -> None:
    try:
        bits, _ = container.get_archive(path)
    except NotFound:
        raise ExecutorError(f"{what} is not in the workspace ({path})") from None
    for chunk in bits:
        out.write(chunk)
    out.seek(0)


def _read_optional(container: Container, path: str) -> bytes | None:
    """The bytes of the file at ``path``, or None when there is no such file."""
    try:
        return _read_file(container, path, path)
    except ExecutorError:
        return None


def _read_file(container: Container, path: str, name: str) -> bytes:
    with tempfile.TemporaryFile(prefix="ocelot-dockerfile-") as raw:
        _fetch(container, path, raw, f"dockerfile {name}")
        with tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                data = tar.extractfile(member) if member.isfile() else None
                if data is not None:
                    return data.read()
    raise ExecutorError(f"dockerfile {name} is not a file in the workspace")
