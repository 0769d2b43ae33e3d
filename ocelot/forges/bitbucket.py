"""Bitbucket Cloud: webhooks signed with ``X-Hub-Signature: sha256=...`` and the API 2.0.

Events built: ``repo:push`` (every branch or tag change in it that is not a deletion; one push
may move several refs), ``pullrequest:created`` / ``pullrequest:updated``. Push payloads never
list changed files and list at most a few commits, so their changeset is completed from the
mirror. Users are read from ``nickname`` / ``username`` / ``display_name``, whichever is there
(``username`` disappeared from live traffic in 2019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ocelot.forges import token_user
from ocelot.forges.base import (
    STATUS_CONTEXT,
    Event,
    ForgeHttp,
    HeaderSignedWebhooks,
    Ignored,
    StatusState,
    as_events,
    collect_pages,
    dig,
    text,
)

PR_EVENTS = ("pullrequest:created", "pullrequest:updated")
STATES = {
    "pending": "INPROGRESS",
    "success": "SUCCESSFUL",
    "failure": "FAILED",
    "error": "FAILED",
}


def _actor(p: Mapping[str, Any]) -> str | None:
    actor = p.get("actor")
    if not isinstance(actor, Mapping):
        return None
    names = (actor.get("nickname"), actor.get("username"), actor.get("display_name"))
    return next((str(n) for n in names if n), None)


class Bitbucket(HeaderSignedWebhooks):
    """``api_url`` is the API root, ``https://api.bitbucket.org/2.0`` by default."""

    name = "bitbucket"
    delivery_header = "x-request-uuid"
    event_header = "x-event-key"
    signature_header = "x-hub-signature"

    def __init__(self, api_url: str = "https://api.bitbucket.org/2.0", token: str | None = None):
        self.http = ForgeHttp(api_url, token, "Bearer")
        self.token = token

    # -- receiving ------------------------------------------------------------------------

    def parse(
        self, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> list[Event] | Ignored:
        event = self.event_name(headers)
        if event == "repo:push":
            return self._push(payload)
        if event in PR_EVENTS:
            return as_events(self._pull_request(payload, event))
        if event.startswith("pullrequest:"):
            number = dig(payload, "pullrequest", "id")
            state = dig(payload, "pullrequest", "state") or event.split(":")[1]
            return Ignored(f"pull request #{number} {str(state).lower()}: not built", event)
        return Ignored(f"event {event or '(none)'!r} is not built", event)

    def _push(self, p: Mapping[str, Any]) -> list[Event] | Ignored:
        """One event per branch or tag the push moved (a push may move several)."""
        repo, actor = self.repo_name(p) or "", _actor(p)
        events: list[Event] = []
        gone: list[str] = []
        for change in dig(p, "push", "changes") or []:
            new, old = change.get("new"), change.get("old")
            if not isinstance(new, Mapping):
                gone.append(str(dig(old, "name") or "?"))
                continue
            name, kind = str(new.get("name") or ""), str(new.get("type") or "")
            sha = text(dig(new, "target", "hash")) or ""
            commits = [c for c in change.get("commits") or [] if isinstance(c, Mapping)]
            # Bitbucket lists commits newest first; keep the push's order (oldest first).
            messages = tuple(str(c.get("message") or "") for c in reversed(commits))
            title = messages[-1].splitlines()[0] if messages and messages[-1] else None
            if kind in ("tag", "annotated_tag"):
                events.append(
                    Event("tag", repo, sha, tag=name, messages=messages, actor=actor, title=title)
                )
            elif kind in ("branch", "named_branch"):
                events.append(
                    Event(
                        "push",
                        repo,
                        sha,
                        branch=name,
                        before=text(dig(old, "target", "hash")),
                        messages=messages,
                        truncated=True,  # no file lists in Bitbucket push payloads
                        actor=actor,
                        title=title,
                    )
                )
        if events:
            return events
        if gone:
            return Ignored(f"{', '.join(gone)} deleted", "repo:push")
        return Ignored("push without branch or tag changes", "repo:push")

    def _pull_request(self, p: Mapping[str, Any], event: str) -> Event | Ignored:
        pr = p.get("pullrequest")
        if not isinstance(pr, Mapping):
            pr = {}
        number, state = text(pr.get("id")), str(pr.get("state") or "OPEN")
        if state != "OPEN":
            return Ignored(f"pull request #{number} is {state.lower()}: not built", event)
        return Event(
            "pull_request",
            self.repo_name(p) or "",
            text(dig(pr, "source", "commit", "hash")) or "",
            branch=text(dig(pr, "destination", "branch", "name")),
            pr_id=number,
            source_branch=text(dig(pr, "source", "branch", "name")),
            before=text(dig(pr, "destination", "commit", "hash")),
            truncated=True,
            actor=_actor(p),
            title=text(pr.get("title")),
            fork=_is_fork(pr),
            source_repo=text(dig(pr, "source", "repository", "full_name")),
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
            "key": context,
            "name": context,
            "url": url,
            "description": description[:255],
        }
        self.http.request("POST", f"repositories/{repo}/commit/{sha}/statuses/build", json=body)

    def create_comment(self, repo: str, pr_id: str, body: str) -> str:
        path = f"repositories/{repo}/pullrequests/{pr_id}/comments"
        return str(self.http.request("POST", path, json={"content": {"raw": body}})["id"])

    def edit_comment(self, repo: str, pr_id: str, comment_id: str, body: str) -> None:
        path = f"repositories/{repo}/pullrequests/{pr_id}/comments/{comment_id}"
        self.http.request("PUT", path, json={"content": {"raw": body}})

    def install_hook(self, repo: str, url: str, secret: str) -> str:
        body = {
            "description": "ocelot",
            "url": url,
            "active": True,
            "secret": secret,
            "events": ["repo:push", *PR_EVENTS],
        }
        return str(self.http.request("POST", f"repositories/{repo}/hooks", json=body)["uuid"])

    def remove_hook(self, repo: str, hook_id: str) -> None:
        self.http.delete(f"repositories/{repo}/hooks/{quote(hook_id, safe='')}")

    def fetch_file(self, repo: str, ref: str, path: str) -> str | None:
        data = self.http.get_optional(f"repositories/{repo}/src/{ref}/{path}")
        return data if isinstance(data, str) else None

    def default_branch(self, repo: str) -> str | None:
        data = self.http.request("GET", f"repositories/{repo}")
        return text(dig(data, "mainbranch", "name"))

    def list_repos(self, acct: str) -> Sequence[dict[str, str]]:
        """Repositories of the workspace ``acct``; 100 a page, up to 1,000."""

        def page_of(page: int) -> Any:
            data = self.http.get_optional(
                f"repositories/{acct}", params={"pagelen": 100, "page": page}
            )
            return None if data is None else (data.get("values") or [])

        out = []
        for r in collect_pages(page_of) or []:
            clone = next(
                (c["href"] for c in dig(r, "links", "clone") or [] if c.get("name") == "https"),
                "",
            )
            branch = str(dig(r, "mainbranch", "name") or "")
            out.append(
                {
                    "full_name": str(r["full_name"]),
                    "clone_url": str(clone),
                    "default_branch": branch,
                }
            )
        return out

    def clone_credentials(self) -> tuple[str, str] | None:
        user = token_user(self.name)
        return (user, self.token) if user and self.token else None


def _is_fork(pr: Mapping[str, Any]) -> bool:
    """Whether the source repository differs from the destination (or either is unknown)."""
    source = _repo_key(dig(pr, "source", "repository"))
    destination = _repo_key(dig(pr, "destination", "repository"))
    return source is None or destination is None or source != destination


def _repo_key(repo: Any) -> tuple[str, str] | None:
    """What identifies a repository in a pull request (None when the payload omits it)."""
    if not isinstance(repo, Mapping):
        return None
    return str(repo.get("uuid") or ""), str(repo.get("full_name") or "").lower()
