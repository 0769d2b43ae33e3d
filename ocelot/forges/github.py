"""GitHub: webhooks signed with ``X-Hub-Signature-256`` and the REST API v3.

Events built: ``push`` to a branch (not a deletion), ``push`` of a tag, ``pull_request``
``opened`` / ``synchronize`` / ``reopened``. ``ping`` and everything else are ignored with a
reason. The legacy SHA-1 ``X-Hub-Signature`` is never accepted on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from ocelot.forges import token_user
from ocelot.forges.base import (
    STATUS_CONTEXT,
    ZERO_SHA,
    Event,
    ForgeHttp,
    HeaderSignedWebhooks,
    Ignored,
    StatusState,
    as_events,
    collect_pages,
    dig,
    strip_ref,
    text,
)

PR_ACTIONS = ("opened", "synchronize", "reopened")


PAGE = 100


class GitHub(HeaderSignedWebhooks):
    """GitHub.com or GitHub Enterprise (``api_url`` e.g. ``https://ghe.example/api/v3``)."""

    name = "github"
    delivery_header = "x-github-delivery"
    event_header = "x-github-event"
    signature_header = "x-hub-signature-256"

    def __init__(self, api_url: str = "https://api.github.com", token: str | None = None):
        self.http = ForgeHttp(api_url, token, "Bearer", {"Accept": "application/vnd.github+json"})
        self.token = token

    # -- receiving ------------------------------------------------------------------------

    def parse(
        self, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> list[Event] | Ignored:
        event = self.event_name(headers)
        if event == "ping":
            return Ignored("ping: the webhook is set up", event)
        if event == "push":
            return as_events(self._push(payload))
        if event == "pull_request":
            return as_events(self._pull_request(payload))
        if event == "create":
            return Ignored("create events are not built (the push event builds the tag)", event)
        return Ignored(f"event {event or '(none)'!r} is not built", event)

    def _push(self, p: Mapping[str, Any]) -> Event | Ignored:
        ref, after = str(p.get("ref") or ""), str(p.get("after") or "")
        repo = self.repo_name(p) or ""
        actor = text(dig(p, "sender", "login")) or text(dig(p, "pusher", "name"))
        if p.get("deleted") or after == ZERO_SHA:
            return Ignored(f"{ref} was deleted", "push")
        commits = [c for c in (p.get("commits") or []) if isinstance(c, Mapping)]
        head = p.get("head_commit") if isinstance(p.get("head_commit"), Mapping) else None
        if not commits and head:
            commits = [head]
        messages = tuple(str(c.get("message") or "") for c in commits)
        files: list[str] = []
        for c in commits:
            for key in ("added", "removed", "modified"):
                files.extend(str(f) for f in c.get(key) or [])
        title = messages[-1].splitlines()[0] if messages and messages[-1] else None
        tag = strip_ref(ref, "refs/tags/")
        if tag is not None:
            base = strip_ref(str(p.get("base_ref") or ""), "refs/heads/")
            return Event(
                "tag",
                repo,
                after,
                branch=base,
                tag=tag,
                messages=messages,
                actor=actor,
                title=title,
            )
        branch = strip_ref(ref, "refs/heads/")
        if branch is None:
            return Ignored(f"push to {ref!r} is neither a branch nor a tag", "push")
        # GitHub lists at most 2048 commits (and only the new ones on a new branch).
        truncated = len(commits) >= 2048
        return Event(
            "push",
            repo,
            after,
            branch=branch,
            before=text(p.get("before")),
            messages=messages,
            files=tuple(dict.fromkeys(files)),
            truncated=truncated,
            actor=actor,
            title=title,
        )

    def _pull_request(self, p: Mapping[str, Any]) -> Event | Ignored:
        action = str(p.get("action") or "")
        number = text(p.get("number") or dig(p, "pull_request", "number"))
        if action not in PR_ACTIONS:
            merged = " (merged)" if dig(p, "pull_request", "merged") else ""
            return Ignored(f"pull request #{number} {action}{merged}: not built", "pull_request")
        sha = text(dig(p, "pull_request", "head", "sha")) or ""
        head_repo, base_repo = (
            dig(p, "pull_request", "head", "repo"),
            dig(p, "pull_request", "base", "repo"),
        )
        # A deleted fork leaves head.repo null: that code came from outside too.
        fork = (
            not isinstance(head_repo, Mapping)
            or not isinstance(base_repo, Mapping)
            or (head_repo.get("id"), text(head_repo.get("full_name")))
            != (base_repo.get("id"), text(base_repo.get("full_name")))
        )
        return Event(
            "pull_request",
            self.repo_name(p) or "",
            sha,
            branch=text(dig(p, "pull_request", "base", "ref")),
            pr_id=number,
            source_branch=text(dig(p, "pull_request", "head", "ref")),
            before=text(p.get("before")) or text(dig(p, "pull_request", "base", "sha")),
            truncated=True,  # PR payloads carry no commits: read them from the mirror
            actor=text(dig(p, "sender", "login")),
            title=text(dig(p, "pull_request", "title")),
            fork=fork,
            source_repo=text(dig(p, "pull_request", "head", "repo", "full_name")),
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
            "state": state,
            "target_url": url,
            "description": description[:140],
            "context": context,
        }
        self.http.request("POST", f"repos/{repo}/statuses/{sha}", json=body)

    def create_comment(self, repo: str, pr_id: str, body: str) -> str:
        path = f"repos/{repo}/issues/{pr_id}/comments"
        data = self.http.request("POST", path, json={"body": body})
        return str(data["id"])

    def edit_comment(self, repo: str, pr_id: str, comment_id: str, body: str) -> None:
        path = f"repos/{repo}/issues/comments/{comment_id}"
        self.http.request("PATCH", path, json={"body": body})

    def install_hook(self, repo: str, url: str, secret: str) -> str:
        body = {
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }
        return str(self.http.request("POST", f"repos/{repo}/hooks", json=body)["id"])

    def remove_hook(self, repo: str, hook_id: str) -> None:
        self.http.delete(f"repos/{repo}/hooks/{hook_id}")

    def fetch_file(self, repo: str, ref: str, path: str) -> str | None:
        data = self.http.get_optional(f"repos/{repo}/contents/{path}", params={"ref": ref})
        if not isinstance(data, Mapping) or "content" not in data:
            return None
        return base64.b64decode(str(data["content"])).decode("utf-8", errors="replace")

    def default_branch(self, repo: str) -> str | None:
        data = self.http.request("GET", f"repos/{repo}")
        return text(dig(data, "default_branch"))

    def list_repos(self, acct: str) -> Sequence[dict[str, str]]:
        """Every repository of ``acct``: as an organisation first (``orgs/…/repos`` includes
        the private ones the token may see), else as a user; 100 a page, up to 1,000."""

        def listing(base: str) -> list[Any] | None:
            return collect_pages(
                lambda page: self.http.get_optional(
                    base, params={"per_page": PAGE, "page": page, "type": "all"}
                ),
                PAGE,
            )

        rows = listing(f"orgs/{acct}/repos") or listing(f"users/{acct}/repos") or []
        found: dict[str, dict[str, str]] = {}  # pages shift when repos appear meanwhile
        for r in rows:
            if isinstance(r, Mapping) and str(r.get("full_name")) not in found:
                found[str(r["full_name"])] = {
                    "full_name": str(r["full_name"]),
                    "clone_url": str(r["clone_url"]),
                    "default_branch": str(r.get("default_branch") or ""),
                }
        return list(found.values())

    def clone_credentials(self) -> tuple[str, str] | None:
        user = token_user(self.name)
        return (user, self.token) if user and self.token else None
