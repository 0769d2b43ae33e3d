"""The runner's side of a ``build_image`` stage, and of stages that run in the image it made.

:func:`plan_image` (in the stage's opening transaction) turns the stage's
:class:`~ocelot.pipeline.images.ImageBuild` into an :class:`~ocelot.executors.ImageRequest`:

* tags get the stage's variables (``{GIT_HASH_SHORT}``, ``{GIT_BRANCH}``, ``{BUILD_ID}``, env
  names; never the account's secrets), made tag-safe; build arguments get every variable of
  the stage, secrets included (masked in the log like any output);
* ``push`` names a ``docker`` repo credential of the account that this build may use; only
  the tags on that credential's registry are pushed. An **untrusted** build builds, but its
  image is neither tagged on the daemon (a fork must not replace a tag other builds use) nor
  pushed, and the log says so;
* reuse: images made by trusted builds of the same repository, by context digest, from the
  ``images`` of its recent builds;
* ``FROM`` images of registries whose login the build may not use are refused.

:func:`run_image` runs it through the executor and records the result in ``builds.images``
(:func:`record_image`). :func:`stage_image` resolves ``image: "{BUILT}"`` (or a tag an earlier
image stage of the build applied) to that image's id, so the stage runs in exactly that image
and nothing is pulled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.executors import BuildKey, ImageRequest, StageOutcome
from ocelot.executors.base import OutputCallback, StopCheck, image_registry
from ocelot.models import Build
from ocelot.pipeline import StageConfig
from ocelot.pipeline.images import (
    BUILT,
    expand,
    reference_problem,
    reference_registry_and_tag,
)
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner.context import RunContext
from ocelot.runner.secrets import BuildSecrets, load_build_secrets
from ocelot.settings import Settings

REUSE_LOOKBACK = 50
"""How many of the repository's newest builds with images are searched for a reusable one."""


@dataclass(frozen=True)
class ImageJob:
    """What running an image stage needs, read in the stage's opening transaction."""

    request: ImageRequest
    trusted: bool
    position: int
    tags: tuple[str, ...] = ()  # as written, filled in (an untrusted build applies none)
    notes: tuple[str, ...] = ()
    error: str | None = None


def plan_image(
    session: Session,
    settings: Settings,
    build: Build,
    spec: StageConfig,
    position: int,
    env: Mapping[str, str],
    secret_env: Mapping[str, str],
) -> ImageJob:
    """The request for the image stage ``spec`` of ``build`` (module docstring)."""
    image = spec.build_image
    assert image is not None
    found = load_build_secrets(session, settings, build)
    public = {k: v for k, v in env.items() if k not in secret_env}
    notes: list[str] = []
    tags: list[str] = []
    for template in image.tags:
        tag = expand(template, public, safe=True)
        problem = reference_problem(tag)
        if problem is not None:
            return ImageJob(
                ImageRequest("", ""), build.trusted, position, error=f"tag {tag!r} {problem}"
            )
        tags.append(tag)
    wanted = tuple(tags)

    def unset(name: str) -> None:
        notes.append(f"build argument: {{{name}}} is not set for this build (left empty)")

    args = {key: expand(str(value), {**env, **secret_env}, missing=unset)
            for key, value in image.build_args.items()}  # fmt: skip
    push: list[str] = []
    login = None
    if not build.trusted:
        why = build.trust_reason or "code from outside the repository"
        notes.append(
            f"untrusted build ({why}): the image is built but not tagged "
            f"({', '.join(tags)}) nor pushed; later stages may run in it with "
            f'image: "{BUILT}"'
        )
        tags = []
    elif image.push:
        login = found.registry_ids.get(image.push)
        if login is None:
            acct = build.repo.acct
            error = (
                f"push: {image.push!r} is not a docker registry credential of {acct} that this "
                f"build may use (ocelot creds repo add {acct} {image.push} --repo-type docker "
                "...; mind its events/branches scope)"
            )
            return ImageJob(ImageRequest("", ""), build.trusted, position, error=error)
        push = [t for t in tags if reference_registry_and_tag(t)[2] == login.registry]
        if not push:
            error = (
                f"push: none of the tags is on {login.registry}, the registry of credential "
                f"{image.push!r} ({', '.join(tags)})"
            )
            return ImageJob(ImageRequest("", ""), build.trusted, position, error=error)
    request = ImageRequest(
        dockerfile=image.dockerfile,
        context=image.context,
        tags=tuple(tags),
        push=tuple(push),
        push_login=login,
        build_args=args,
        labels={"ocelot.built_by": f"{build.repo.full_name}#{build.id}"},
        reusable=_reusable(session, build),
        refused_registries=frozenset(_withheld(found)),
        logins=tuple(found.registries),
    )
    return ImageJob(request, build.trusted, position, wanted, tuple(notes))


def _withheld(found: BuildSecrets) -> set[str]:
    return found.withheld_registries - {login.registry for login in found.registries}


def _reusable(session: Session, build: Build) -> dict[str, tuple[str, str]]:
    """Context digest → (image id, who built it), from trusted builds of the repository."""
    rows = session.execute(
        select(Build.id, Build.images)
        .where(Build.repo_id == build.repo_id, Build.images.is_not(None))
        .order_by(Build.id.desc())
        .limit(REUSE_LOOKBACK)
    ).all()
    found: dict[str, tuple[str, str]] = {}
    for build_id, images in reversed(rows):  # oldest first: the newest entry wins
        for entry in images or []:
            if entry.get("trusted") and entry.get("image_id") and entry.get("context"):
                origin = entry.get("reused_from") or f"{build.repo.full_name}#{build_id}"
                found[entry["context"]] = (entry["image_id"], origin)
    return found


def run_image(
    ctx: RunContext,
    key: BuildKey,
    spec: StageConfig,
    job: ImageJob,
    *,
    on_output: OutputCallback,
    should_stop: StopCheck,
) -> StageOutcome:
    """Build (or reuse), tag and push through the executor; record what it made."""
    for note in job.notes:
        on_output(f"{note}\n".encode())
    if job.error is not None:
        on_output(f"{job.error}\n".encode())
        return StageOutcome(exit_code=None, error=job.error)
    result = ctx.executor.build_image(
        key,
        spec.name,
        job.request,
        on_output=on_output,
        should_stop=should_stop,
        timeout=spec.timeout_seconds,
    )
    if result.image_id is not None:
        entry = {
            "stage": spec.name,
            "position": job.position,
            "attempt": key.attempt,
            "image_id": result.image_id,
            "context": result.context,
            "tags": list(job.tags),
            "tagged": bool(job.request.tags),
            "pushed": dict(result.pushed),
            "reused_from": result.reused_from,
            "trusted": job.trusted,
        }
        retry_db(
            lambda: record_image(ctx, key.build_id, entry),
            what=f"recording the image of stage {spec.name!r} of build {key.build_id}",
            budget=outage_budget(ctx.settings),
        )
    return result.outcome


def record_image(ctx: RunContext, build_id: int, entry: dict[str, Any]) -> None:
    """Add ``entry`` to the build's images, replacing an earlier try of the same stage."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id, with_for_update=True)
        if build is None:
            return
        same = (entry["attempt"], entry["position"])
        kept = [e for e in build.images or [] if (e.get("attempt"), e.get("position")) != same]
        build.images = [*kept, entry]


def stage_image(
    session: Session, settings: Settings, build: Build, spec: StageConfig, position: int,
    env: Mapping[str, str],
) -> tuple[str | None, str | None]:  # fmt: skip
    """``(image, error)`` a script stage runs in: ``"{BUILT}"`` and a tag an earlier image
    stage of this attempt applied become that image's id; other placeholders are filled in
    (and the image refused when its registry's login is withheld)."""
    if spec.image is None or "{" not in spec.image:
        return spec.image, None
    made = [
        e
        for e in build.images or []
        if e.get("attempt") == build.attempt and e.get("position", position) < position
    ]
    if spec.image == BUILT:
        if not made:
            return None, f'image "{BUILT}": no earlier stage of this build made an image'
        return str(made[-1]["image_id"]), None
    image = expand(spec.image, env, safe=True)
    for entry in reversed(made):
        if image in entry.get("tags", ()):
            return str(entry["image_id"]), None
    found = load_build_secrets(session, settings, build)
    if image_registry(image) in _withheld(found):
        return None, (
            f"image {image} comes from {image_registry(image)}, whose login this build may "
            "not use (an untrusted build, or outside the credential's events/branches)"
        )
    return image, None
