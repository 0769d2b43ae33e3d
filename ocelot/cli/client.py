"""The CLI's only path to the server: a small client of the REST API (``docs/rest-api.md``).

Every failure becomes an :class:`~ocelot.errors.OcelotError` subclass, so commands never see
``requests`` exceptions:

* an error body ``{"error": {"code", "message", ...}}`` → the class with that ``code``
  (``not_tracked`` → :class:`NotTracked`, exit code 3), else the class for the HTTP status;
* 401 → :class:`Unauthorized` with a hint on where the token comes from;
* 403 for a token role too small → :class:`PermissionDenied` with how to get a bigger one;
* connection refused / DNS / timeout → :class:`DependencyUnavailable` naming the URL.

Requests carry ``X-Ocelot-Client: cli`` so the server records builds as triggered by ``cli``.
"""

from __future__ import annotations

import codecs
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from ocelot import errors
from ocelot.cli.sse import SseEvent, parse_sse

API = "/api/v1"
TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
# The server sends ": keepalive" every ~15 s; a read timeout of 4 of those tolerates a slow
# proxy without hanging forever on a dead connection.
STREAM_TIMEOUT = (5.0, 60.0)

_BY_CODE: dict[str, type[errors.OcelotError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidRequest,
        errors.PayloadTooLarge,
        errors.Unauthorized,
        errors.PermissionDenied,
        errors.NotFound,
        errors.Conflict,
        errors.ForgeError,
        errors.ExecutorError,
        errors.SourceError,
        errors.SecretError,
        errors.NotifierError,
        errors.DependencyUnavailable,
    )
}
_BY_STATUS: dict[int, type[errors.OcelotError]] = {
    400: errors.InvalidRequest,
    401: errors.Unauthorized,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    503: errors.DependencyUnavailable,
}
# What a broken stream raises: requests wraps urllib3's errors only inside iter_content.
_STREAM_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)
_NOT_TRACKED_SUFFIX = " isn't tracked by ocelot"


def repo_path(full_name: str) -> str:
    """``acme/demo`` → ``/repos/acme/demo`` with each part URL-quoted."""
    acct, _, name = full_name.partition("/")
    return f"/repos/{quote(acct, safe='')}/{quote(name, safe='')}"


def error_from_response(response: requests.Response, repo: str | None = None) -> errors.OcelotError:
    """The OcelotError an error response stands for; ``repo`` names a repo the call was about."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        reason = response.reason or "error"
        message = f"the server answered HTTP {response.status_code} {reason} for {response.url}"
        error = {"message": message}
    code = str(error.get("code") or "")
    message = str(error.get("message") or f"HTTP {response.status_code}")
    if code == errors.NotTracked.code:
        named = error.get("repo") or repo or message.removesuffix(_NOT_TRACKED_SUFFIX)
        return errors.NotTracked(str(named))
    if code == errors.ConfigError.code or response.status_code == 422:
        return errors.ConfigError(message, issues=error.get("issues") or [])
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code, errors.OcelotError)
    if cls is errors.Unauthorized:
        message += (
            " (set OCELOT_TOKEN or `token:` in ~/.config/ocelot/config.yml;"
            " mint one with `ocelot admin create-token NAME`)"
        )
    elif cls is errors.PermissionDenied and error.get("required_role"):
        message += (
            f"; ask an admin for one (`ocelot admin tokens create NAME"
            f" --role {error['required_role']}` on the server host)"
        )
    extra = {k: v for k, v in error.items() if k not in {"code", "message"}}
    return cls(message, **extra)


class Client:
    """Calls ``/api/v1`` on ``url`` with a bearer ``token``; one ``requests.Session``."""

    def __init__(self, url: str, token: str | None, *, timeout: tuple[float, float] = TIMEOUT):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["X-Ocelot-Client"] = "cli"
        self.session.headers["User-Agent"] = "ocelot-cli"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- transport ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        repo: str | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        url = f"{self.url}{API}{path}"
        timeout = STREAM_TIMEOUT if stream else self.timeout
        try:
            response = self.session.request(method, url, timeout=timeout, stream=stream, **kwargs)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise errors.InvalidRequest(
                f"invalid server URL {self.url!r} (set OCELOT_URL or `url:` in the config): {exc}"
            ) from None
        except requests.exceptions.Timeout:
            raise errors.DependencyUnavailable(
                f"the ocelot server at {self.url} did not answer in time"
            ) from None
        except requests.exceptions.ConnectionError:
            raise errors.DependencyUnavailable(
                f"cannot reach the ocelot server at {self.url}"
                " (is it running? set OCELOT_URL or `url:` in the config)"
            ) from None
        if response.status_code >= 400:
            try:
                raise error_from_response(response, repo)
            finally:
                response.close()
        return response

    def _json(self, method: str, path: str, *, repo: str | None = None, **kwargs: Any) -> Any:
        response = self._send(method, path, repo=repo, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise errors.OcelotError(
                f"the server sent something other than JSON for {method} {path}"
            ) from None

    # -- repos ----------------------------------------------------------------------------

    def repos(self, group: str | None = None) -> list[dict[str, Any]]:
        params = {"group": group} if group else None
        return list(self._json("GET", "/repos", params=params)["repos"])

    def repo(self, full_name: str) -> dict[str, Any]:
        return dict(self._json("GET", repo_path(full_name), repo=full_name))

    def add_repo(
        self, full_name: str, url: str, vcs_type: str | None = None, group: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"full_name": full_name, "url": url}
        if vcs_type:
            body["vcs_type"] = vcs_type
        if group:
            body["group"] = group
        return dict(self._json("POST", "/repos", json=body, repo=full_name))

    def remove_repo(self, full_name: str) -> None:
        self._json("DELETE", repo_path(full_name), repo=full_name)

    def discover(
        self, acct: str, forge: str, *, track: bool = False, group: str | None = None
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"acct": acct, "forge": forge, "track": track}
        if group:
            body["group"] = group
        return list(self._json("POST", "/repos/discover", json=body)["repos"])

    # -- webhooks and polls (forges) ------------------------------------------------------

    def watch(self, full_name: str, *, install: bool = True) -> dict[str, Any]:
        body = {"install": install}
        return dict(self._json("POST", f"{repo_path(full_name)}/watch", json=body, repo=full_name))

    def unwatch(self, full_name: str) -> dict[str, Any]:
        return dict(self._json("DELETE", f"{repo_path(full_name)}/watch", repo=full_name))

    def deliveries(self, full_name: str, limit: int = 20) -> list[dict[str, Any]]:
        path, params = f"{repo_path(full_name)}/deliveries", {"limit": limit}
        return list(self._json("GET", path, params=params, repo=full_name)["deliveries"])

    def set_poll(self, full_name: str, cron: str, branches: str) -> dict[str, Any]:
        body = {"cron": cron, "branches": branches}
        return dict(self._json("PUT", f"{repo_path(full_name)}/poll", json=body, repo=full_name))

    def polls(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/polls")["polls"])

    def delete_poll(self, full_name: str) -> None:
        self._json("DELETE", f"{repo_path(full_name)}/poll", repo=full_name)

    # -- subscriptions (upstream → downstream) --------------------------------------------

    def subscriptions(
        self,
        repo: str | None = None,
        *,
        downstream: str | None = None,
        upstream: str | None = None,
        upstream_branch: str | None = None,
    ) -> list[dict[str, Any]]:
        """Subscriptions; ``repo`` on either side, or by ``downstream`` / ``upstream``."""
        given = {
            "repo": repo,
            "downstream": downstream,
            "upstream": upstream,
            "upstream_branch": upstream_branch,
        }
        params = {k: v for k, v in given.items() if v}
        named = repo or downstream or upstream
        data = self._json("GET", "/subscriptions", params=params, repo=named)
        return list(data["subscriptions"])

    def subscribe(
        self,
        downstream: str,
        upstream: str,
        *,
        upstream_branch: str | None = None,
        downstream_branch: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"downstream": downstream, "upstream": upstream}
        if upstream_branch:
            body["upstream_branch"] = upstream_branch
        if downstream_branch:
            body["downstream_branch"] = downstream_branch
        return dict(self._json("POST", "/subscriptions", json=body))

    def unsubscribe(self, subscription_id: int) -> None:
        self._json("DELETE", f"/subscriptions/{subscription_id}")

    # -- builds ---------------------------------------------------------------------------

    def builds(
        self,
        repo: str | None = None,
        *,
        hash_prefix: str | None = None,
        branch: str | None = None,
        limit: int | None = None,
        pipeline: str | None = None,
    ) -> list[dict[str, Any]]:
        """Builds newest first; of one repo when ``repo`` is given, else across repos."""
        params: dict[str, Any] = {}
        if hash_prefix:
            params["hash"] = hash_prefix
        if branch:
            params["branch"] = branch
        if pipeline:
            params["pipeline"] = pipeline
        if limit:
            params["limit"] = limit
        if repo:
            data = self._json("GET", f"{repo_path(repo)}/builds", params=params, repo=repo)
        else:
            data = self._json("GET", "/builds", params=params)
        return list(data["builds"])

    def create_build(
        self,
        repo: str,
        *,
        branch: str | None,
        hash: str | None,
        force: bool,
        pipeline: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"force": force}
        if branch:
            body["branch"] = branch
        if hash:
            body["hash"] = hash
        if pipeline:
            body["pipeline"] = pipeline
        return dict(self._json("POST", f"{repo_path(repo)}/builds", json=body, repo=repo))

    def build(self, build_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/builds/{build_id}"))

    def kill(self, build_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/builds/{build_id}/kill"))

    def rebuild(self, build_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/builds/{build_id}/rebuild"))

    def approve(self, build_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/builds/{build_id}/approve"))

    def decline(self, build_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/builds/{build_id}/decline"))

    def update_repo(self, full_name: str, **settings: str) -> dict[str, Any]:
        return dict(self._json("PATCH", repo_path(full_name), json=settings, repo=full_name))

    # -- workers --------------------------------------------------------------------------

    def workers(self) -> list[dict[str, Any]]:
        """The workers registry: every worker with its state and running builds."""
        return list(self._json("GET", "/workers")["workers"])

    # -- credentials (secrets go in, never come back) -------------------------------------

    def creds_list(self, ctype: str, acct: str | None = None) -> list[dict[str, Any]]:
        """Metadata of the ``ctype`` credentials (of ``acct``); secrets read ``*****``."""
        params = {"acct": acct} if acct else None
        return list(
            self._json("GET", f"/creds/{quote(ctype, safe='')}", params=params)["credentials"]
        )

    def creds_add(
        self, ctype: str, body: dict[str, Any], *, overwrite: bool = False
    ) -> dict[str, Any]:
        """Add a credential (``acct``, ``identifier``, fields and secrets in ``body``);
        Conflict when it exists and ``overwrite`` is false."""
        data = {**body, "overwrite": True} if overwrite else body
        return dict(self._json("POST", f"/creds/{quote(ctype, safe='')}", json=data))

    def creds_delete(self, ctype: str, acct: str, identifier: str) -> None:
        parts = "/".join(quote(p, safe="") for p in (ctype, acct, identifier))
        self._json("DELETE", f"/creds/{parts}")

    # -- logs -----------------------------------------------------------------------------

    def logs(self, build_id: int, stage: str | None = None) -> str:
        params = {"stage": stage} if stage else None
        response = self._send("GET", f"/builds/{build_id}/logs", params=params)
        response.encoding = response.encoding or "utf-8"
        return response.text

    def follow_logs(
        self, build_id: int, stage: str | None = None
    ) -> Generator[SseEvent, None, None]:
        """Open the SSE stream of a build's log (errors raise now); events as they arrive.

        Iterating raises DependencyUnavailable when the connection drops mid-stream; the
        caller decides whether to reconnect (``seq`` lets it skip what it has seen).
        """
        params: dict[str, Any] = {"follow": 1}
        if stage:
            params["stage"] = stage
        headers = {"Accept": "text/event-stream"}
        response = self._send(
            "GET", f"/builds/{build_id}/logs", params=params, headers=headers, stream=True
        )
        return self._events(response)

    def _events(self, response: requests.Response) -> Generator[SseEvent, None, None]:
        with response:
            try:
                yield from parse_sse(_decoded_lines(response))
            except _STREAM_ERRORS as exc:
                raise errors.DependencyUnavailable(
                    f"the log stream from {self.url} broke off ({type(exc).__name__})"
                ) from None


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """Bytes of a streamed body as soon as they arrive, never waiting for a buffer to fill.

    A chunked body (what gunicorn sends) comes chunk by chunk through ``iter_content(None)``;
    for a plain body (an HTTP/1.0 proxy) that would read to the end, so use ``read1``.
    """
    raw = response.raw
    if getattr(raw, "chunked", False) or not hasattr(raw, "read1"):
        yield from response.iter_content(chunk_size=None)
        return
    while chunk := raw.read1(64 * 1024):
        yield chunk


def _decoded_lines(response: requests.Response) -> Iterator[str]:
    """Lines of a streamed body as they arrive, decoded as UTF-8 (LF or CRLF endings)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in _chunks(response):
        pending += decoder.decode(chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line.removesuffix("\r")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.removesuffix("\r")
