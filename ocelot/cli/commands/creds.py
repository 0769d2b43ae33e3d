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

from pathlib import Path
from typing import Any

import click
import yaml
from rich import box
from rich.table import Table
from rich.text import Text

from ocelot.cli.app import App, pass_app
from ocelot.credtypes import SCOPE_EVENTS, TYPES, Field
from ocelot.errors import Conflict, InvalidRequest
from ocelot.secrets.redaction import MASK

# Other spellings of a field's flag: `creds ssh add ACCT NAME --known-hosts FILE`.
FLAG_ALIASES = {"known_hosts": ("--known-hosts",)}
# Flags of fields read from a file say so in their name.
_FILE_FLAGS = {"private_key": "key-file", "known_hosts": "known-hosts-file"}


def flag(field: Field) -> str:
    """The ``--option`` of a credential field."""
    return "--" + (_FILE_FLAGS.get(field.name) or field.name.replace("_", "-"))


def dest(field: Field) -> str:
    """The click parameter name of :func:`flag`."""
    return flag(field)[2:].replace("-", "_")


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
    spec = TYPES[ctype]
    for field in spec.fields:
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
    if spec.one_of and not any(entry.get(name) for name in spec.one_of):
        *first, last = spec.one_of
        for name in first:  # e.g. notify: a webhook URL, else a bot token
            entry[name] = click.prompt(
                f"{name} (empty for {last})",
                default="",
                hide_input=spec.field(name).secret,
                show_default=False,
            )
            if entry[name]:
                return entry
        entry[last] = click.prompt(last, hide_input=spec.field(last).secret)
    return entry


def _add(app: App, ctype: str, entry: dict[str, Any], yes: bool) -> None:
    body = {k: v for k, v in entry.items() if v not in (None, "")}
    name = f"{ctype} credential {body.get('identifier')!r} of {body.get('acct')}"
    try:
        app.client.creds_add(ctype, body)
        click.echo(f"added {name}")
        return
    except Conflict:
        if not yes and not click.confirm(f"{name} exists; overwrite it?", default=False, err=True):
            raise click.Abort() from None
    app.client.creds_add(ctype, body, overwrite=True)
    click.echo(f"replaced {name}")


def _table(ctype: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    scoped = TYPES[ctype].scoped
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
        secrets = ", ".join(f"{k}: {MASK}" for k in sorted(row.get("secrets") or {}))
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
    spec = TYPES[ctype]
    group = click.Group(ctype, help=spec.summary)

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
            for field in spec.fields:
                value = flags.get(dest(field))
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
    if spec.scoped:
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
    for field in spec.fields:
        note = (
            " Visible in `ps` and shell history: prefer the prompt."
            if field.secret and not field.from_file
            else ""
        )
        params.append(
            click.Option(
                [flag(field), *FLAG_ALIASES.get(field.name, ()), dest(field)],
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
        rows = app.client.creds_list(ctype, acct)
        if not rows:
            app.note(f"no {ctype} credentials{f' of {acct}' if acct else ''}")
            return
        app.out.print(_table(ctype, rows))

    group.add_command(
        click.Command(
            "list",
            callback=pass_app(list_),
            params=[click.Argument(["acct"], required=False, metavar="[ACCT]")],
            help=f"List {ctype} credentials (of ACCT); secrets show as {MASK}.",
        )
    )

    def delete(app: App, acct: str, identifier: str, yes: bool) -> None:
        name = f"{ctype} credential {identifier!r} of {acct}"
        if not yes:
            click.confirm(f"delete {name}?", abort=True, err=True)
        app.client.creds_delete(ctype, acct, identifier)
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
