"""Pull-request deliveries made from the real fixtures: from a fork or from the same
repository, for any tracked name and commit, as exact bytes ready to sign."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.webhooks import body

FIXTURE = {
    "github": "github/pull_request-opened.json",
    "gitlab": "gitlab/merge_request-open.json",
    "bitbucket": "bitbucket/pullrequest-created.json",
}


def pull_request(
    forge: str,
    repo: str,
    *,
    fork: str | None,
    sha: str | None = None,
    number: int = 7,
    base: str = "master",
    head: str = "feature",
) -> tuple[str, bytes]:
    """``(fixture name, body)`` of a pull request on ``repo`` whose head lives in ``fork``
    (None: in ``repo`` itself)."""
    data: dict[str, Any] = json.loads(body(FIXTURE[forge]))
    if forge == "github":
        data["repository"]["full_name"] = repo
        data["number"] = number
        pr = data["pull_request"]
        pr["number"] = number
        pr["base"]["ref"] = base
        pr["base"]["repo"].update(full_name=repo, id=1001)
        pr["head"]["ref"] = head
        pr["head"]["repo"].update(
            full_name=fork or repo, id=2002 if fork else 1001, fork=bool(fork)
        )
        if sha:
            pr["head"]["sha"] = sha
    elif forge == "gitlab":
        data["project"]["path_with_namespace"] = repo
        attrs = data["object_attributes"]
        attrs.update(iid=number, target_branch=base, source_branch=head, target_project_id=14)
        attrs["source_project_id"] = 99 if fork else 14
        attrs["source"]["path_with_namespace"] = fork or repo
        attrs["target"]["path_with_namespace"] = repo
        if sha:
            attrs["last_commit"]["id"] = sha
    else:
        data["repository"]["full_name"] = repo
        pr = data["pullrequest"]
        pr["id"] = number
        pr["destination"]["branch"]["name"] = base
        pr["destination"]["repository"].update(full_name=repo, uuid="{base-uuid}")
        pr["source"]["branch"]["name"] = head
        pr["source"]["repository"].update(
            full_name=fork or repo, uuid="{fork-uuid}" if fork else "{base-uuid}"
        )
        if sha:
            pr["source"]["commit"]["hash"] = sha
    return FIXTURE[forge], json.dumps(data).encode()
