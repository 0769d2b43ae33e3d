"""GitLab (gitlab.com or self-managed): webhooks and the REST API v4.

Authentication of deliveries: the classic ``X-Gitlab-Token`` (the webhook's secret token,
compared in constant time) and, where the instance sends it, the newer Standard-Webhooks
``webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``.
Every authenticator that is present must pass, at least one must be present, and a signed
delivery older than :data:`SIGNATURE_TOLERANCE` seconds is refused (replay).

Events built: ``push`` to a branch, ``tag_push``, ``merge_request`` ``open`` / ``reopen`` /
``update`` *with* ``oldrev`` (new commits; an update without it is a title or label change).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ocelot.forges import token_user
from ocelot.forges.base import (
    STATUS_CONTEXT,
    ZERO_SHA,
    Event,
    ForgeHttp,
    Ignored,
    StatusState,
    as_events,
    collect_pages,
    dig,
    lower_headers,
    strip_ref,
    text,
)

SIGNATURE_TOLERANCE = 300
STATES = {"pending": "running", "success": "success", "failure": "failed", "error": "failed"}


def _signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"))
        except ValueError:
            pass
    return secret.encode()


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for this delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _standard_ok(h: Mapping[str, str], body: bytes, secret: str, now: float) -> bool:
    msg_id, stamp = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
    try:
        if abs(now - int(stamp)) > SIGNATURE_TOLERANCE:
            return False
    except ValueError:
        return False
    wanted = standard_signature(secret, msg_id, stamp, body).encode()
    offered = h.get("webhook-signature", "").split()
    return any(hmac.compare_digest(sig.encode(), wanted) for sig in offered)


def _project(repo: str) -> str:
    return quote(repo, safe="")


class GitLab:
    """``api_url`` is the v4 API root, e.g. ``https://gitlab.example/api/v4``."""

    name = "gitlab"

    def __init__(self, api_url: str = "https://gitlab.com/api/v4", token: str | None = None):
        self.http = ForgeHttp(api_url, token, "Bearer")
        self.token = token

    # -- receiving ------------------------------------------------------------------------

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        h = lower_headers(headers)
        return h.get("x-gitlab-event-uuid") or h.get("webhook-id") or h.get("idempotency-key")

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_headers(headers).get("x-gitlab-event", "")

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return text(dig(payload, "project", "path_with_namespace"))

    def verify(
        self, headers: Mapping[str, str], body: bytes, secret: str, now: float | None = None
    ) -> bool:
        if not secret:
            return False
        h = lower_headers(headers)
        token, signature = h.get("x-gitlab-token"), h.get("webhook-signature")
        if token is None and signature is None:
            return False
        if token is not None and not hmac.compare_digest(token.encode(), secret.encode()):
            return False
        return signature is None or _standard_ok(h, body, secret, now or time.time())

    def parse(
        self, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> list[Event] | Ignored:
        kind = str(payload.get("object_kind") or "")
        event = self.event_name(headers) or kind
        if kind == "push":
            return as_events(self._push(payload, event))
        if kind == "tag_push":
            return as_events(self._tag(payload, event))
        if kind == "merge_request":
            return as_events(self._merge_request(payload, event))
        return Ignored(f"event {event or '(none)'!r} is not built", event)

    def _actor(self, p: Mapping[str, Any]) -> str | None:
        return (
            text(p.get("user_username"))
            or text(dig(p, "user", "username"))
            or text(p.get("user_name"))
        )

    def _push(self, p: Mapping[str, Any], event: str) -> Event | Ignored:
        ref, after = str(p.get("ref") or ""), str(p.get("after") or "")
        if after == ZERO_SHA:
            return Ignored(f"{ref} was deleted", event)
        branch = strip_ref(ref, "refs/heads/")
        if branch is None:
            return Ignored(f"push to {ref!r} is not a branch", event)
        commits = [c for c in (p.get("commits") or []) if isinstance(c, Mapping)]
        files: list[str] = []
        for c in commits:
            for key in ("added", "modified", "removed"):
                files.extend(str(f) for f in c.get(key) or [])
        messages = tuple(str(c.get("message") or "") for c in commits)
        total = p.get("total_commits_count")
        truncated = isinstance(total, int) and total > len(commits)
        head = next((c for c in commits if c.get("id") == after), commits[-1] if commits else None)
        return Event(
            "push",
            self.repo_name(p) or "",
            text(p.get("checkout_sha")) or after,
            branch=branch,
            before=text(p.get("before")),
            messages=messages,
            files=tuple(dict.fromkeys(files)),
            truncated=truncated,
            actor=self._actor(p),
            title=text(head.get("title")) if head else None,
        )

    def _tag(self, p: Mapping[str, Any], event: str) -> Event | Ignored:
        ref, after = str(p.get("ref") or ""), str(p.get("after") or "")
        tag = strip_ref(ref, "refs/tags/") or ref
        if after == ZERO_SHA:
            return Ignored(f"tag {tag} was deleted", event)
        # ``after`` may be an annotated tag object; ``checkout_sha`` is the commit.
        sha = text(p.get("checkout_sha")) or after
        return Event("tag", self.repo_name(p) or "", sha, tag=tag, actor=self._actor(p))

    def _merge_request(self, p: Mapping[str, Any], event: str) -> Event | Ignored:
        attrs = p.get("object_attributes")
        if not isinstance(attrs, Mapping):
            attrs = {}
        action, iid = str(attrs.get("action") or ""), text(attrs.get("iid"))
        if action == "update" and not attrs.get("oldrev"):
            return Ignored(f"merge request !{iid} updated without new commits: not built", event)
        if action not in ("open", "reopen", "update"):
            return Ignored(f"merge request !{iid} {action or 'event'}: not built", event)
        return Event(
            "pull_request",
            self.repo_name(p) or "",
            text(dig(attrs, "last_commit", "id")) or "",
            branch=text(attrs.get("target_branch")),
            pr_id=iid,
            source_branch=text(attrs.get("source_branch")),
            before=text(attrs.get("oldrev")),
            messages=(str(dig(attrs, "last_commit", "message") or ""),),
            truncated=True,  # only the last commit is in the payload
            actor=text(dig(p, "user", "username")),
            title=text(attrs.get("title")),
            fork=attrs.get("source_project_id") is None
            or attrs.get("source_project_id") != attrs.get("target_project_id"),
            source_repo=text(dig(attrs, "source", "path_with_namespace")),
        )

    # -- API ------------------------------------------------------------------------------

    def set_status(
        self,
        repo: str,
        sha: str,
        state: StatusState,
        url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None:
        body = {
            "state": STATES[state],
            "target_url": url,
            "description": description[:255],
            "name": context,
        }
        self.http.request("POST", f"projects/{_project(repo)}/statuses/{sha}", json=body)

    def create_comment(self, repo: str, pr_id: str, body: str) -> str:
        path = f"projects/{_project(repo)}/merge_requests/{pr_id}/notes"
        return str(self.http.request("POST", path, json={"body": body})["id"])

    def edit_comment(self, repo: str, pr_id: str, comment_id: str, body: str) -> None:
        path = f"projects/{_project(repo)}/merge_requests/{pr_id}/notes/{comment_id}"
        self.http.request("PUT", path, json={"body": body})

    def install_hook(self, repo: str, url: str, secret: str) -> str:
        body = {
            "url": url,
            "token": secret,
            "push_events": True,
            "tag_push_events": True,
            "merge_requests_events": True,
            "enable_ssl_verification": True,
        }
        return str(self.http.request("POST", f"projects/{_project(repo)}/hooks", json=body)["id"])

    def remove_hook(self, repo: str, hook_id: str) -> None:
        self.http.delete(f"projects/{_project(repo)}/hooks/{hook_id}")

    def fetch_file(self, repo: str, ref: str, path: str) -> str | None:
        data = self.http.get_optional(
            f"projects/{_project(repo)}/repository/files/{quote(path, safe='')}",
            params={"ref": ref},
        )
        if not isinstance(data, Mapping) or "content" not in data:
            return None
        return base64.b64decode(str(data["content"])).decode("utf-8", errors="replace")

    def default_branch(self, repo: str) -> str | None:
        data = self.http.request("GET", f"projects/{_project(repo)}")
        return text(dig(data, "default_branch"))

    def list_repos(self, acct: str) -> Sequence[dict[str, str]]:
        """Projects of the group ``acct``, else of the user ``acct``; 100 a page, up to 1,000."""
        rows: list[Any] = []
        for base in (
            f"groups/{quote(acct, safe='')}/projects",
            f"users/{quote(acct, safe='')}/projects",
        ):
            found = collect_pages(functools.partial(self._projects_page, base))
            if found is not None:
                rows = found
                break
        return [
            {
                "full_name": str(r["path_with_namespace"]),
                "clone_url": str(r["http_url_to_repo"]),
                "default_branch": str(r.get("default_branch") or ""),
            }
            for r in rows
            if isinstance(r, Mapping)
        ]

    def _projects_page(self, base: str, page: int) -> Any:
        return self.http.get_optional(base, params={"per_page": 100, "page": page})

    def clone_credentials(self) -> tuple[str, str] | None:
        user = token_user(self.name)
        return (user, self.token) if user and self.token else None
