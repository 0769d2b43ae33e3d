"""Plain git: a clone URL or a local path, no forge API.

It sends no webhooks (build it with polls or from the CLI), has no commit statuses or
comments (those calls do nothing), and no hooks to install (``ocelot watch`` says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ocelot.errors import ForgeError
from ocelot.forges.base import STATUS_CONTEXT, Event, Ignored, StatusState


class PlainGit:
    name = "git"

    def __init__(self, api_url: str = "", token: str | None = None) -> None:
        self.token = token

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return None

    def event_name(self, headers: Mapping[str, str]) -> str:
        return ""

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return None

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return False

    def parse(
        self, headers: Mapping[str, str], payload: Mapping[str, Any]
    ) -> list[Event] | Ignored:
        return Ignored("plain git repositories send no webhooks")

    def set_status(
        self,
        repo: str,
        sha: str,
        state: StatusState,
        url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None:
        return None

    def create_comment(self, repo: str, pr_id: str, body: str) -> str:
        raise ForgeError("plain git repositories have no pull requests to comment on")

    def edit_comment(self, repo: str, pr_id: str, comment_id: str, body: str) -> None:
        raise ForgeError("plain git repositories have no pull requests to comment on")

    def install_hook(self, repo: str, url: str, secret: str) -> str:
        raise ForgeError(
            f"{repo} is a plain git repository: there is no webhook to install"
            " (poll it instead: `ocelot poll ACCT/REPO --cron ...`)"
        )

    def remove_hook(self, repo: str, hook_id: str) -> None:
        return None

    def fetch_file(self, repo: str, ref: str, path: str) -> str | None:
        return None

    def default_branch(self, repo: str) -> str | None:
        return None

    def list_repos(self, acct: str) -> Sequence[dict[str, str]]:
        raise ForgeError("plain git has no accounts to discover repositories in")

    def clone_credentials(self) -> tuple[str, str] | None:
        return None
