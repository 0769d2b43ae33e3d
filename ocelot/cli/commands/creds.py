"""``ocelot creds {vcs,repo,ssh,notify,env} {add,list,delete}``: the credentials of accounts.

Secrets go one way: to the server. ``add`` takes them from flags, from a YAML file
(``--credfile``), or, when they are missing, from hidden prompts (stdin works too, for
scripts); ``list`` shows ``*****`` for every secret and whether the server holds it. Adding an
identifier that exists asks before replacing it (``--yes`` replaces without asking).

A credfile holds one credential as a mapping, or several as a list (or under
``credentials:``), with the same names as the flags (underscores), plus ``acct`` and
``identifier``; ``key_file`` and ``known_hosts_file`` are read relative to the credfile::

    acct: acme
    identifier: registry
    repo_type: docker
    url: 127.0.0.1:5000
    username: ci
    password: s3cret
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml
from rich import box
from rich.table import Table
from rich.text import Text

from ocelot.cli.app import App, pass_app
from ocelot.errors import Conflict, InvalidRequest

# Types a build receives: they can be scoped (ocelot.services.trust; kept in step with the
# server's SCOPED_TYPES, checked by a test).
SCOPED_TYPES = ("env", "ssh", "repo")
SCOPE_EVENTS = ("push", "tag", "pull_request", "cli", "api", "poll", "rebuild")


# Other spellings of a field's flag: `creds ssh add ACCT NAME --known-hosts FILE`.
FLAG_ALIASES = {"known_hosts": ("--known-hosts",)}


@dataclass(frozen=True)
class Field:
    name: str  # API field name
    help: str
    secret: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()
    from_file: bool = False  # the flag names a file whose content is the value

    @property
    def flag(self) -> str:
        name = {"private_key": "key-file", "known_hosts": "known-hosts-file"}.get(self.name)
        return "--" + (name or self.name.replace("_", "-"))

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")


TYPES: dict[str, tuple[str, list[Field]]] = {
    "vcs": (
        "Forge tokens (GitHub, GitLab, Bitbucket) used for webhooks, statuses and clones.",
        [
            Field(
                "forge", "Forge the token is for.", choices=("github", "gitlab", "bitbucket", "git")
            ),
            Field("url", "API URL of a self-hosted forge."),
            Field("username", "User the token belongs to."),
            Field(
                "token", "The token (prompted, hidden, when left out).", secret=True, required=True
            ),
        ],
    ),
    "repo": (
        "Registry and artifact repository logins (docker, maven/nexus, npm).",
        [
            Field(
                "repo_type",
                "Kind of repository.",
                required=True,
                choices=("docker", "maven", "npm", "nexus"),
            ),
            Field("url", "Registry or repository URL (docker: host[:port]).", required=True),
            Field("username", "Login name.", required=True),
            Field(
                "password",
                "Password (prompted, hidden, when left out).",
                secret=True,
                required=True,
            ),
        ],
    ),
    "ssh": (
        "SSH private keys, written to ~/.ssh/ in every build container of the account.",
        [
            Field(
                "private_key",
                "File with the private key.",
                secret=True,
                required=True,
                from_file=True,
            ),
            Field(
                "known_hosts",
                "known_hosts file with the git hosts' keys: fetches check them strictly "
                "(without one, the first key a host shows is pinned and a change is refused).",
                from_file=True,
            ),
        ],
    ),
    "notify": (
        "Slack webhooks and bot tokens used by notifications.",
        [
            Field("kind", "slack or webhook.", choices=("slack", "webhook")),
            Field("channel", "Default channel (bot tokens)."),
            Field("webhook_url", "Incoming webhook URL (a secret).", secret=True),
            Field("token", "Bot token (a secret).", secret=True),
        ],
    ),
    "env": (
        "Secret environment variables for every build of the account (NAME=its name).",
        [
            Field(
                "value", "The value (prompted, hidden, when left out).", secret=True, required=True
            )
        ],
    ),
}


def _read(path: Path, what: str) -> str:
    try:
        return path.expanduser().read_text()
    except OSError as exc:
        raise InvalidRequest(f"cannot read the {what} file {path}: {exc.strerror}") from None


def _entries(credfile: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(_read(credfile, "credentials"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise InvalidRequest(f"{credfile} is not valid YAML{where}") from None
    if isinstance(data, dict) and isinstance(data.get("credentials"), list):
        data = data["credentials"]
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise InvalidRequest(f"{credfile} must hold a mapping or a list of mappings")
    found = []
    for item in items:
        entry = {str(k).replace("-", "_"): v for k, v in item.items()}
        for key, field in (("key_file", "private_key"), ("known_hosts_file", "known_hosts")):
            if key in entry:
                entry[field] = _read(credfile.parent / str(entry.pop(key)), field)
        found.append(entry)
    return found


def _complete(ctype: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Prompt for what is missing: names, required fields, secrets (hidden)."""
    for key in ("acct", "identifier"):
        if not entry.get(key):
            entry[key] = click.prompt(
                "variable name" if ctype == "env" and key == "identifier" else key
            )
    fields = TYPES[ctype][1]
    for field in fields:
        if entry.get(field.name) or not field.required:
            continue
        if field.from_file:
            entry[field.name] = _read(Path(click.prompt(f"{field.name} file")), field.name)
        else:
            entry[field.name] = click.prompt(
                field.name,
                hide_input=field.secret,
                type=click.Choice(field.choices) if field.choices else None,
            )
    if ctype == "notify" and not entry.get("webhook_url") and not entry.get("token"):
        entry["webhook_url"] = click.prompt(
            "webhook_url (empty for a bot token)", default="", hide_input=True, show_default=False
        )
        if not entry["webhook_url"]:
            entry["token"] = click.prompt("token", hide_input=True)
    return entry


def _add(app: App, ctype: str, entry: dict[str, Any], yes: bool) -> None:
    body = {k: v for k, v in entry.items() if v not in (None, "")}
    name = f"{ctype} credential {body.get('identifier')!r} of {body.get('acct')}"
    try:
        app.client._json("POST", f"/creds/{ctype}", json=body)
        click.echo(f"added {name}")
        return
    except Conflict:
        if not yes and not click.confirm(f"{name} exists; overwrite it?", default=False, err=True):
            raise click.Abort() from None
    app.client._json("POST", f"/creds/{ctype}", json={**body, "overwrite": True})
    click.echo(f"replaced {name}")


def _table(ctype: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    scoped = ctype in SCOPED_TYPES
    for column in (
        "ACCT",
        "IDENTIFIER",
        "DETAILS",
        "SECRETS",
        *(("SCOPE",) if scoped else ()),
        "UPDATED",
    ):
        table.add_column(column)
    for row in rows:
        details = " ".join(
            f"{k}={v}" if k != "known_hosts" else "known_hosts=yes"
            for k, v in sorted((row.get("fields") or {}).items())
        )
        secrets = ", ".join(f"{k}: *****" for k in sorted(row.get("secrets") or {}))
        if ctype == "ssh":
            secrets = "private key on file" if row.get("on_file") else "private key MISSING"
        elif not row.get("on_file"):
            secrets += " (MISSING from the store)"
        updated = str(row.get("updated_at") or "")[:19].replace("T", " ")
        scope = (_scope(row),) if scoped else ()
        cells = (row.get("acct"), row.get("identifier"), details, secrets, *scope, updated)
        table.add_row(*(Text(str(c or "")) for c in cells))
    return table


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _scope(row: dict[str, Any]) -> str:
    events = ",".join(row.get("events") or []) or "trusted events"
    branches = ",".join(row.get("branches") or []) or "any branch"
    return f"{events} on {branches}"


def _make_group(ctype: str) -> click.Group:
    summary, fields = TYPES[ctype]
    group = click.Group(ctype, help=summary)

    def add(
        app: App,
        acct: str | None,
        identifier: str | None,
        credfile: Path | None,
        yes: bool,
        **flags: Any,
    ) -> None:
        entries = _entries(credfile) if credfile else [{}]
        events, branches = flags.pop("events", None), flags.pop("branches", None)
        for entry in entries:
            if events:
                entry["events"] = _split_list(events)
            if branches:
                entry["branches"] = _split_list(branches)
            for field in fields:
                value = flags.get(field.dest)
                if value is not None:
                    entry[field.name] = _read(Path(value), field.name) if field.from_file else value
            if acct:
                entry["acct"] = acct
            if identifier:
                entry["identifier"] = identifier
            _add(app, ctype, _complete(ctype, entry), yes)

    params: list[click.Parameter] = [
        click.Argument(["acct"], required=False, metavar="[ACCT]"),
        click.Argument(
            ["identifier"], required=False, metavar="[NAME]" if ctype == "env" else "[IDENTIFIER]"
        ),
        click.Option(
            ["--credfile"],
            type=click.Path(dir_okay=False, path_type=Path),
            help="Read the credential(s) from this YAML file.",
        ),
        click.Option(
            ["--yes", "-y"], is_flag=True, help="Replace an existing credential without asking."
        ),
    ]
    if ctype in SCOPED_TYPES:
        params += [
            click.Option(
                ["--events"],
                metavar="E,E",
                help="Only builds of these events get it: "
                f"{','.join(SCOPE_EVENTS)} (default: every trusted event).",
            ),
            click.Option(
                ["--branches"],
                metavar="GLOB,GLOB",
                help="Only builds of matching branches get it (a PR's source branch, a tag "
                "build's tag), e.g. 'master,release/*' (default: every branch).",
            ),
        ]
    for field in fields:
        note = (
            " Visible in `ps` and shell history: prefer the prompt."
            if field.secret and not field.from_file
            else ""
        )
        params.append(
            click.Option(
                [field.flag, *FLAG_ALIASES.get(field.name, ()), field.dest],
                help=field.help + note,
                type=click.Choice(field.choices) if field.choices else None,
            )
        )
    group.add_command(
        click.Command(
            "add",
            callback=pass_app(add),
            params=params,
            help=f"Add a {ctype} credential of ACCT (missing values are prompted; secrets hidden).",
        )
    )

    def list_(app: App, acct: str | None) -> None:
        params = {"acct": acct} if acct else None
        rows = app.client._json("GET", f"/creds/{ctype}", params=params)["credentials"]
        if not rows:
            app.note(f"no {ctype} credentials{f' of {acct}' if acct else ''}")
            return
        app.out.print(_table(ctype, rows))

    group.add_command(
        click.Command(
            "list",
            callback=pass_app(list_),
            params=[click.Argument(["acct"], required=False, metavar="[ACCT]")],
            help=f"List {ctype} credentials (of ACCT); secrets show as *****.",
        )
    )

    def delete(app: App, acct: str, identifier: str, yes: bool) -> None:
        name = f"{ctype} credential {identifier!r} of {acct}"
        if not yes:
            click.confirm(f"delete {name}?", abort=True, err=True)
        app.client._json("DELETE", f"/creds/{ctype}/{acct}/{identifier}")
        click.echo(f"deleted {name}")

    group.add_command(
        click.Command(
            "delete",
            callback=pass_app(delete),
            params=[
                click.Argument(["acct"], metavar="ACCT"),
                click.Argument(["identifier"], metavar="IDENTIFIER"),
                click.Option(["--yes", "-y"], is_flag=True, help="Do not ask."),
            ],
            help=f"Delete a {ctype} credential and its secret.",
        )
    )
    return group


@click.group("creds")
def creds() -> None:
    """Manage credentials: forge tokens, registry logins, ssh keys, notification webhooks and
    secret build variables. Secrets are never printed back."""


for _ctype in TYPES:
    creds.add_command(_make_group(_ctype))
