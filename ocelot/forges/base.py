"""The forge contract: what Ocelot needs from GitHub, GitLab, Bitbucket Cloud or plain git.

A forge has two halves, both behind :class:`Forge`:

**Receiving webhooks** (pure; no I/O, called in the web request):

* :meth:`Forge.delivery_id` — the forge's id of the delivery (dedupe key), or None.
* :meth:`Forge.event_name` — the event header (``push``, ``Merge Request Hook``, ...).
* :meth:`Forge.repo_name` — ``acct/name`` of the repository a payload is about.
* :meth:`Forge.verify` — whether the request is authentic for ``secret``. Implementations
  compare with :func:`hmac.compare_digest` only, and return False (never raise) for a missing,
  malformed or wrong signature.
* :meth:`Forge.parse` — the payload as the list of :class:`Event` it asks to build (one
  for a GitHub or GitLab delivery; a Bitbucket push may move several refs at once: one per
  ref, never empty) or :class:`Ignored` with the reason (ping, closed PR, deleted branch,
  other events).

**Calling the forge's API** (network; called from Celery tasks on the ``forge`` queue, never
from a build step or a web request that a forge is waiting on):

* :meth:`Forge.set_status` — commit status ``pending | success | failure | error``.
* :meth:`Forge.create_comment` / :meth:`Forge.edit_comment` — one comment per PR, edited later.
* :meth:`Forge.install_hook` / :meth:`Forge.remove_hook` — ``ocelot watch`` / ``unwatch``.
* :meth:`Forge.fetch_file` — a file at a commit (None when absent).
* :meth:`Forge.default_branch` — the repository's default branch (None for an empty one);
  ``ocelot watch`` reads ``ocelot.yml`` there before installing a hook.
* :meth:`Forge.list_repos` — repositories of an account (discovery): ``full_name``,
  ``clone_url`` and ``default_branch`` (empty for an empty repository).
* :meth:`Forge.clone_credentials` — the (username, password) pair git uses over HTTPS.

Errors: API methods raise :class:`~ocelot.errors.ForgeError`; ``retryable`` on it says whether
the call may succeed later (connection errors, 5xx, 429), so the task layer retries with backoff
only those. Messages never contain the token. A forge object is cheap and holds no state but its
base URL and token, so it is safe to create one per call and from any thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests

from ocelot.errors import ForgeError

# The commit-status context (GitHub), name (GitLab) or key (Bitbucket) of a build of the
# default pipeline; another pipeline reports as ``ocelot/<pipeline>`` (status_context).
STATUS_CONTEXT = "ocelot"


def status_context(pipeline: str | None) -> str:
    """The status context a build reports under: one per pipeline, so the builds of one
    commit's pipelines do not overwrite each other's status."""
    return STATUS_CONTEXT if pipeline in (None, "", "default") else f"{STATUS_CONTEXT}/{pipeline}"


EventKind = Literal["push", "tag", "pull_request"]
StatusState = Literal["pending", "success", "failure", "error"]
ZERO_SHA = "0" * 40
TIMEOUT = (5.0, 20.0)
# Header values that must never be stored with a delivery record.
SECRET_HEADERS = frozenset({"x-gitlab-token", "authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Event:
    """Something to build, as a forge described it.

    ``branch`` is the branch the build filters on: the pushed branch, or for a pull request the
    *destination* branch (``source_branch`` is where the PR comes from). ``sha`` is what to
    build: the new head, the tag's commit, or the PR head. ``messages`` / ``files`` are the
    pushed changeset as far as the payload tells it; ``truncated`` says the payload left some
    out, so the pipeline completes it from the mirror between ``before`` and ``sha``.

    ``fork`` says that a pull request's head lives in another repository than its base
    (``source_repo`` names it): such code comes from outside and the build is untrusted.
    """

    kind: EventKind
    repo: str
    sha: str
    branch: str | None = None
    tag: str | None = None
    pr_id: str | None = None
    source_branch: str | None = None
    before: str | None = None
    messages: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    truncated: bool = False
    actor: str | None = None
    title: str | None = None
    fork: bool = False
    source_repo: str | None = None

    @property
    def trigger(self) -> str:
        return self.kind

    def changeset(self) -> dict[str, Any]:
        """The ``Build.changeset`` this event starts with (see ocelot.services.changesets)."""
        data: dict[str, Any] = {"messages": list(self.messages), "files": list(self.files)}
        if self.before and self.before != ZERO_SHA:
            data["before"] = self.before
        data["after"] = self.sha
        if self.truncated:
            data["incomplete"] = True
        return data


@dataclass(frozen=True)
class Ignored:
    """A delivery deliberately not built, and why (answered 200 with ``reason``)."""

    reason: str
    event: str = ""


def as_events(found: Event | Ignored) -> list[Event] | Ignored:
    """One event as the list :meth:`Forge.parse` returns (an Ignored as it is)."""
    return [found] if isinstance(found, Event) else found


@dataclass
class ForgeHttp:
    """A small JSON-over-HTTPS client shared by the API forges (token never in messages)."""

    base_url: str
    token: str | None = None
    auth_scheme: str = "Bearer"
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": "ocelot-ci", **self.extra_headers}
        if self.token:
            out["Authorization"] = f"{self.auth_scheme} {self.token}"
        return out

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        try:
            resp = requests.request(method, url, headers=self.headers(), timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ForgeError(
                f"{method} {url} failed: {type(exc).__name__}", retryable=True
            ) from None
        if resp.status_code >= 400:
            retryable = resp.status_code >= 500 or resp.status_code == 429
            raise ForgeError(
                f"{method} {url} answered HTTP {resp.status_code}",
                retryable=retryable,
                status=resp.status_code,
            )
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def delete(self, path: str) -> None:
        """DELETE that treats 404 as done (the thing is already gone)."""
        try:
            self.request("DELETE", path)
        except ForgeError as exc:
            if exc.details.get("status") != 404:
                raise

    def get_optional(self, path: str, **kwargs: Any) -> Any:
        """GET that answers None for a 404 (a file or ref that is not there)."""
        try:
            return self.request("GET", path, **kwargs)
        except ForgeError as exc:
            if exc.details.get("status") == 404:
                return None
            raise


class Forge(Protocol):
    """See the module docstring for the lifecycle and error rules of each method."""

    name: str

    # -- receiving ------------------------------------------------------------------------
    def delivery_id(self, headers: Mapping[str, str]) -> str | None: ...

    def event_name(self, headers: Mapping[str, str]) -> str: ...

    def repo_name(self, payload: Mapping[str, Any]) -> str | None: ...

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...

    def parse(
        self, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> list[Event] | Ignored: ...

    # -- calling the API ------------------------------------------------------------------
    def set_status(
        self,
        repo: str,
        sha: str,
        state: StatusState,
        url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None: ...

    def create_comment(self, repo: str, pr_id: str, body: str) -> str: ...

    def edit_comment(self, repo: str, pr_id: str, comment_id: str, body: str) -> None: ...

    def install_hook(self, repo: str, url: str, secret: str) -> str: ...

    def remove_hook(self, repo: str, hook_id: str) -> None: ...

    def fetch_file(self, repo: str, ref: str, path: str) -> str | None: ...

    def default_branch(self, repo: str) -> str | None: ...

    def list_repos(self, acct: str) -> Sequence[dict[str, str]]: ...

    def clone_credentials(self) -> tuple[str, str] | None: ...


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to store: secret values replaced, oversized values cut."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        if key.lower() in SECRET_HEADERS:
            out[key] = "[redacted]"
        else:
            out[key] = value if len(value) <= 500 else value[:500] + "..."
    return out


def dig(data: Any, *path: str | int) -> Any:
    """``data[p0][p1]...`` or None when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return None
            data = data[key]
        elif isinstance(data, Mapping):
            data = data.get(key)
        else:
            return None
    return data


def text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def strip_ref(ref: str, prefix: str) -> str | None:
    return ref[len(prefix) :] if ref.startswith(prefix) else None


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than the parser can follow (``[`` x 100000)."""


def json_loads(body: bytes) -> Any:
    """``body`` as JSON. Raises UnicodeDecodeError / ValueError for a malformed body and
    :class:`JSONTooDeep` (a ValueError) for one nested too deeply, which Python's parser
    reports as RecursionError: a hostile body must give a 400, never a 500."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise JSONTooDeep("nested too deeply") from None


def collect_pages(
    get_page: Callable[[int], Any], size: int = 100, limit: int = 10
) -> list[Any] | None:
    """The rows of a paged forge listing: pages 1, 2, ... until a short page (at most
    ``limit`` pages). None when the first page is missing (404: no such account)."""
    rows: list[Any] = []
    for page in range(1, limit + 1):
        batch = get_page(page)
        if batch is None:
            return None if page == 1 else rows
        batch = batch if isinstance(batch, list) else []
        rows.extend(batch)
        if len(batch) < size:
            break
    return rows


def sign(secret: str, body: bytes) -> str:
    """The ``sha256=<hex>`` HMAC of ``body`` that GitHub (``X-Hub-Signature-256``) and
    Bitbucket Cloud (``X-Hub-Signature``) send; tests and fakes sign with it too."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_sha256(header: str | None, secret: str, body: bytes) -> bool:
    """Constant-time check of a ``sha256=<hex>`` header (GitHub, Bitbucket Cloud)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(secret, body).encode())


class HeaderSignedWebhooks:
    """The receiving half of a forge that names the delivery, the event and an HMAC-SHA256
    signature of the body in headers, and the repository as ``repository.full_name``
    (GitHub, Bitbucket Cloud). Subclasses set the three header names (lower case)."""

    delivery_header: str
    event_header: str
    signature_header: str

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return lower_headers(headers).get(self.delivery_header) or None

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_headers(headers).get(self.event_header, "")

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return text(dig(payload, "repository", "full_name"))

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return verify_sha256(lower_headers(headers).get(self.signature_header), secret, body)
