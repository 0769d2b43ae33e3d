"""What a notification says, built once and rendered per transport.

A :class:`Message` tells: repository, branch (or tag), short hash, what and who triggered the
build, each stage's result, the failing stage's last log lines, the duration, a link to the
build (``{OCELOT_PUBLIC_URL}/builds/<id>``) and the CLI command that prints its logs.

The log lines and the failure reason pass through a *redactor* (``str -> str``, e.g. the one
of :mod:`ocelot.secrets.redaction`) before they enter the message; the stored log is already
redacted when it is written, so this is a second guard, not the only one.

**Slack.** Everything a build's author controls (commit message, branch or tag, repository,
who triggered it, stage names, failure reason, log lines) is escaped with :func:`slack_escape`
(``&``, ``<``, ``>`` as ``&amp;``, ``&lt;``, ``&gt;``, Slack's mrkdwn rule), so a commit
message cannot mention ``<!channel>`` or hide a link as ``<http://evil|click>``: it shows as
text. Only the link Ocelot makes to the build is real mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocelot.formatting import duration as format_duration
from ocelot.models import Build
from ocelot.secrets.redaction import Redactor, identity
from ocelot.status import BuildStatus

TAIL_LINES = 20
SLACK_TEXT_LIMIT = 2800  # a Slack section block holds 3000 characters
_EMOJI: dict[str, str] = {
    BuildStatus.PASSED: ":white_check_mark:",
    BuildStatus.FAILED: ":x:",
    BuildStatus.FAILED_PRESTART: ":x:",
}


def slack_escape(text: str) -> str:
    """``text`` shown literally by Slack's mrkdwn: ``&``, ``<`` and ``>`` as entities (no
    mention, link or channel can be made from it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_tail(text: str, limit: int) -> str:
    """The end of ``text``, escaped for Slack, in at most ``limit`` characters (the cut is
    made on the raw text, so no entity is split)."""
    size, start = 0, len(text)
    while start > 0:
        width = len(slack_escape(text[start - 1]))
        if size + width > limit:
            break
        size += width
        start -= 1
    return slack_escape(text[start:])


def _fit(text: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    """``text`` (already escaped) cut to ``limit`` characters without splitting an entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` non-empty-trailing lines of ``text``."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def duration(seconds: float | None) -> str:
    """``1m 05s`` style (prose); ``-`` when unknown."""
    return format_duration(seconds, sep=" ")


@dataclass(frozen=True)
class StageLine:
    name: str
    status: str
    exit_code: int | None
    seconds: float | None

    def render(self, esc: Redactor = identity) -> str:
        code = f", exit {self.exit_code}" if self.exit_code not in (None, 0) else ""
        return f"{esc(self.name)}: {self.status} ({duration(self.seconds)}{code})"


@dataclass(frozen=True)
class Message:
    build_id: int
    repo: str
    ref: str
    hash_short: str
    status: str
    events: tuple[str, ...]
    trigger: str
    triggered_by: str | None
    seconds: float | None
    url: str
    cli: str
    stages: tuple[StageLine, ...] = ()
    failure_reason: str | None = None
    failing_stage: str | None = None
    log_tail: str = ""
    commit_message: str | None = None

    @property
    def headline(self) -> str:
        return self._headline()

    def _headline(self, esc: Redactor = identity) -> str:
        state = "FIXED" if "FIXED" in self.events else self.status
        return (
            f"{esc(self.repo)} {esc(self.ref)} {state} ({esc(self.hash_short)}) "
            f"- build #{self.build_id}"
        )

    @property
    def subject(self) -> str:
        return f"[ocelot] {self.headline}"

    def _facts(self, esc: Redactor = identity) -> list[str]:
        who = f" by {esc(self.triggered_by)}" if self.triggered_by else ""
        subject = self.commit_message.splitlines()[0] if self.commit_message else ""
        lines = [
            f"Repository: {esc(self.repo)}",
            f"Branch: {esc(self.ref)}",
            f"Commit: {esc(self.hash_short)}" + (f" {esc(subject)}" if subject else ""),
            f"Triggered: {esc(self.trigger)}{who}",
            f"Status: {self.status}" + (f" ({', '.join(self.events)})" if self.events else ""),
            f"Duration: {duration(self.seconds)}",
        ]
        if self.failure_reason:
            lines.append(f"Reason: {esc(self.failure_reason)}")
        return lines

    def as_text(self) -> str:
        """Plain text (the email body)."""
        parts = [self.headline, "", *self._facts(), "", "Stages:"]
        parts += [f"  {s.render()}" for s in self.stages] or ["  (none ran)"]
        if self.log_tail:
            parts += ["", f"Last lines of {self.failing_stage or 'the log'}:", self.log_tail]
        parts += ["", f"Build: {self.url}", f"Logs:  {self.cli}", ""]
        return "\n".join(parts)

    def as_slack(self) -> dict[str, Any]:
        """``text`` (the notification fallback) and ``blocks`` for chat.postMessage / webhooks."""
        emoji = _EMOJI.get(self.status, ":grey_question:")
        if "FIXED" in self.events:
            emoji = ":tada:"
        esc = slack_escape
        headline = self._headline(esc)
        # The one real link: Ocelot's own URL (escaped too: only & < > would break it).
        title = f"{emoji} *<{esc(self.url)}|{headline}>*"
        stages = "\n".join(f"• {s.render(esc)}" for s in self.stages) or "(no stage ran)"

        def section(text: str) -> dict[str, Any]:
            return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}}

        blocks: list[dict[str, Any]] = [
            section(title),
            section("\n".join(self._facts(esc))),
            section(f"*Stages*\n{stages}"),
        ]
        if self.log_tail:
            label = f"*Last lines of {esc(self.failing_stage or 'the log')}*"
            room = SLACK_TEXT_LIMIT - len(label) - 8
            text = _escaped_tail(self.log_tail.replace("```", "'''"), room)
            blocks.append(section(f"{label}\n```{text}```"))
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{esc(self.cli)}`"}]}
        )
        return {"text": headline, "blocks": blocks}


def compose(
    build: Build,
    *,
    public_url: str,
    build_events: tuple[str, ...] = (),
    log_tail: str = "",
    failing_stage: str | None = None,
    redact: Redactor = identity,
) -> Message:
    """The message for a finished ``build`` (with its repo and stages loaded)."""
    data = build.to_dict()
    stages = tuple(
        StageLine(s["name"], s["status"], s["exit_code"], s["duration_seconds"])
        for s in data["stages"]
    )
    ref = build.branch or (f"tag {build.tag}" if build.tag else "-")
    reason = redact(build.failure_reason) if build.failure_reason else None
    return Message(
        build_id=build.id,
        repo=build.repo.full_name,
        ref=ref,
        hash_short=(build.hash or "")[:7] or "-------",
        status=build.status,
        events=build_events,
        trigger=build.trigger,
        triggered_by=build.triggered_by,
        seconds=data["duration_seconds"],
        url=f"{public_url.rstrip('/')}/builds/{build.id}",
        cli=f"ocelot logs --build-id {build.id}",
        stages=stages,
        failure_reason=reason,
        failing_stage=failing_stage,
        log_tail="\n".join(redact(line) for line in log_tail.splitlines()),
        commit_message=build.message,
    )
