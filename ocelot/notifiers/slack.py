"""Slack transport: an incoming-webhook URL (``WebhookClient``) or a bot token
(``WebClient.chat_postMessage``), as stored by ``ocelot creds notify add``.

The Web API base URL comes from ``OCELOT_SLACK_API_URL`` (default ``https://slack.com/api/``)
and the webhook URL from the credential, so tests point both at a loopback stand-in.
slack-sdk's own retry handlers are switched off: retries belong to the Celery task, which
records every attempt. Neither the webhook URL nor the token ever appears in an error.
User-controlled text is escaped by :meth:`Message.as_slack`; links are not unfurled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ocelot.notifiers.base import NotifierError, TransientNotifierError, scrub
from ocelot.notifiers.message import Message

TIMEOUT = 15


def _failure(status: int, detail: str) -> NotifierError:
    text = f"Slack answered HTTP {status}: {detail[:200]}"
    if status == 429 or status >= 500:
        return TransientNotifierError(text)
    return NotifierError(text)


class SlackNotifier:
    """Posts to one Slack channel through a webhook or the Web API."""

    kind = "slack"

    def __init__(
        self,
        *,
        channel: str | None,
        identifier: str | None,
        webhook_url: str | None = None,
        token: str | None = None,
        api_url: str = "https://slack.com/api/",
    ) -> None:
        if not webhook_url and not token:
            raise NotifierError(
                f"the notify credential {identifier!r} has neither a webhook_url nor a token"
            )
        if token and not channel:
            raise NotifierError("notify.slack.channel is required when posting with a bot token")
        self.channel, self.identifier = channel, identifier
        self._webhook_url, self._token = webhook_url, token
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"

    @property
    def target(self) -> str:
        via = "webhook" if self._webhook_url else "bot token"
        where = self.channel or "(webhook default channel)"
        return f"{where} via {via} {self.identifier or ''}".strip()

    def _scrub(self, text: str) -> str:
        return scrub(text, (self._webhook_url, self._token))

    def send(self, message: Message) -> None:
        # The text is escaped (message.slack_escape); no unfurling either, so a URL in a
        # commit message gets no preview card in the channel.
        payload = {**message.as_slack(), "unfurl_links": False, "unfurl_media": False}
        try:
            if self._webhook_url:
                self._send_webhook(payload)
            else:
                self._send_api(payload)
        except NotifierError as exc:
            raise type(exc)(self._scrub(exc.message)) from None
        except (URLError, OSError, TimeoutError) as exc:
            raise TransientNotifierError(self._scrub(f"Slack unreachable: {exc}")) from None
        except SlackClientError as exc:
            raise NotifierError(self._scrub(f"Slack client error: {exc}")) from None

    def _send_webhook(self, payload: dict[str, Any]) -> None:
        assert self._webhook_url is not None
        client = WebhookClient(self._webhook_url, timeout=TIMEOUT, retry_handlers=[])
        body = {**payload, **({"channel": self.channel} if self.channel else {})}
        resp = client.send_dict(body)
        if resp.status_code != 200:
            raise _failure(resp.status_code, resp.body or "")

    def _send_api(self, payload: dict[str, Any]) -> None:
        client = WebClient(
            token=self._token, base_url=self._api_url, timeout=TIMEOUT, retry_handlers=[]
        )
        try:
            client.chat_postMessage(channel=self.channel or "", **payload)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if _is_json(exc.response.data) else None
            if status == 200:  # ok: false — e.g. channel_not_found, invalid_auth
                refused = error or "unknown error"
                raise NotifierError(f"Slack refused the message: {refused}") from None
            raise _failure(status, str(error or exc.response.data)) from None


def _is_json(data: Any) -> bool:
    return isinstance(data, Mapping)


def make_slack(config: Mapping[str, Any], secret: Mapping[str, Any], api_url: str) -> SlackNotifier:
    """A notifier for the ``notify.slack`` block of ocelot.yml and its stored credential
    (``webhook_url`` or ``token``; its ``channel`` is the default when the file names none)."""
    return SlackNotifier(
        channel=config.get("channel") or secret.get("channel") or None,
        identifier=config.get("identifier") or None,
        webhook_url=secret.get("webhook_url") or None,
        token=secret.get("token") or None,
        api_url=api_url,
    )
