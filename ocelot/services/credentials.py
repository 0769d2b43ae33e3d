"""Credentials: add, list, look up, delete; read the secret of one for a build or a notice.

Each credential type has non-secret *fields* (kept in SQL, shown by ``list``) and *secret*
fields (kept in the secret backend, never shown). The types, their fields and what each
needs are :mod:`ocelot.credtypes`, shared with the CLI; this module is the judge of what is
valid. Other parts of Ocelot read credentials only through :func:`get_secret` and
:func:`list_credentials`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.credtypes import SCOPED_TYPES, TYPES, CredentialType
from ocelot.errors import Conflict, InvalidRequest, NotFound
from ocelot.models import Credential, utcnow
from ocelot.models.credential import secret_path
from ocelot.secrets import open_backend
from ocelot.services.trust import check_scope
from ocelot.settings import Settings

__all__ = [
    "SCOPED_TYPES",
    "TYPES",
    "CredentialType",
    "account_secret_values",
    "account_secrets",
    "add_credential",
    "check_fields",
    "credential_type",
    "delete_credential",
    "get_credential",
    "get_secret",
    "list_credentials",
    "on_file",
]

MAX_VALUE_BYTES = 64 * 1024
_ACCT = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.@-]{1,200}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")


def credential_type(ctype: str) -> CredentialType:
    spec = TYPES.get(ctype)
    if spec is None:
        raise InvalidRequest(f"credential type must be one of {', '.join(TYPES)}, got {ctype!r}")
    return spec


def _check_names(acct: str, ctype: str, identifier: str) -> CredentialType:
    spec = credential_type(ctype)
    if not isinstance(acct, str) or not _ACCT.match(acct):
        raise InvalidRequest(f"account must be letters, digits, '_', '.' or '-', got {acct!r}")
    pattern, what = (
        (_ENV_NAME, "an environment variable name (A-Z, 0-9, _)")
        if ctype == "env"
        else (_IDENTIFIER, "letters, digits, '_', '.', '@' or '-'")
    )
    if not isinstance(identifier, str) or not pattern.match(identifier):
        raise InvalidRequest(f"the identifier of a {ctype} credential must be {what}")
    return spec


def _split(ctype: str, spec: CredentialType, data: Mapping[str, Any]) -> tuple[dict, dict]:
    """Check ``data`` against the type; return (fields, secrets). Never echoes a value."""
    unknown = sorted(set(data) - set(spec.shown) - set(spec.secrets))
    if unknown:
        allowed = ", ".join((*spec.shown, *spec.secrets))
        raise InvalidRequest(f"unknown field(s) for {ctype}: {', '.join(unknown)} ({allowed})")
    fields: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name, value in data.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"{ctype} field {name} must be a string")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidRequest(f"{ctype} field {name} is larger than {MAX_VALUE_BYTES} bytes")
        if name in spec.secrets:
            secrets[name] = _normalise_secret(name, value)
        else:
            fields[name] = value.strip()
    for name, allowed_values in spec.choices.items():
        if name in fields and fields[name] not in allowed_values:
            raise InvalidRequest(f"{name} must be one of {', '.join(allowed_values)}")
    missing = [name for name in spec.required if name not in fields and name not in secrets]
    if missing:
        raise InvalidRequest(f"a {ctype} credential needs {', '.join(missing)}")
    if spec.one_of and not any(name in secrets for name in spec.one_of):
        raise InvalidRequest(f"a {ctype} credential needs {' or '.join(spec.one_of)}")
    return fields, secrets


def check_fields(ctype: str, data: Mapping[str, Any]) -> tuple[dict, dict]:
    """``data`` (fields and secrets of a ``ctype`` credential) split into ``(fields,
    secrets)``; InvalidRequest naming what is missing or wrong, never a value. The CLI
    prompts by the same spec (:mod:`ocelot.credtypes`); this is the judgement."""
    return _split(ctype, credential_type(ctype), data)


def _normalise_secret(name: str, value: str) -> str:
    if name == "private_key":
        if "PRIVATE KEY" not in value:
            raise InvalidRequest("private_key does not look like a private key (PEM/OpenSSH)")
        return value.strip() + "\n"  # ssh refuses a key file without its final newline
    return value.rstrip("\r\n")  # from a YAML block or a file read whole


def get_credential(session: Session, acct: str, ctype: str, identifier: str) -> Credential:
    row = session.scalar(
        select(Credential).where(
            Credential.acct == acct, Credential.ctype == ctype, Credential.identifier == identifier
        )
    )
    if row is None:
        raise NotFound(f"{acct} has no {ctype} credential {identifier!r}")
    return row


def add_credential(
    session: Session,
    settings: Settings,
    acct: str,
    ctype: str,
    identifier: str,
    data: Mapping[str, Any],
    *,
    overwrite: bool = False,
    events: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
) -> Credential:
    """Store a credential; an existing identifier is a Conflict unless ``overwrite``.
    ``events`` / ``branches`` limit which trusted builds get it (types env, ssh and repo,
    the ones a build receives; see :mod:`ocelot.services.trust`)."""
    spec = _check_names(acct, ctype, identifier)
    fields, secrets = _split(ctype, spec, data)
    events, branches = check_scope(events, branches)
    if (events or branches) and ctype not in SCOPED_TYPES:
        raise InvalidRequest(
            f"only {', '.join(SCOPED_TYPES)} credentials go to builds and can be scoped; "
            f"a {ctype} credential is used by the server itself"
        )
    try:
        row: Credential | None = get_credential(session, acct, ctype, identifier)
    except NotFound:
        row = None
    if row is not None and not overwrite:
        raise Conflict(
            f"{acct} already has a {ctype} credential {identifier!r} (overwrite it to replace)",
            identifier=identifier,
        )
    path = secret_path(acct, ctype, identifier)
    open_backend(settings, session).write(path, secrets)  # before the metadata: see base
    if row is None:
        row = Credential(acct=acct, ctype=ctype, identifier=identifier)
        session.add(row)
    row.fields, row.secret_fields, row.updated_at = fields, sorted(secrets), utcnow()
    row.events, row.branches = events, branches
    session.flush()
    return row


def list_credentials(
    session: Session, acct: str | None = None, ctype: str | None = None
) -> list[Credential]:
    """Metadata of the credentials of ``acct`` (all accounts when None) of type ``ctype``."""
    query = select(Credential).order_by(Credential.acct, Credential.ctype, Credential.identifier)
    if acct:
        query = query.where(Credential.acct == acct)
    if ctype:
        credential_type(ctype)
        query = query.where(Credential.ctype == ctype)
    return list(session.scalars(query))


def on_file(session: Session, settings: Settings, row: Credential) -> bool:
    """Whether the backend holds the secret of ``row`` (shown by ``list``, value unread)."""
    return open_backend(settings, session).exists(row.path)


def delete_credential(
    session: Session, settings: Settings, acct: str, ctype: str, identifier: str
) -> None:
    row = get_credential(session, acct, ctype, identifier)
    session.delete(row)
    session.flush()
    open_backend(settings, session).delete(row.path)  # after the metadata: see base


def get_secret(
    session: Session, settings: Settings, acct: str, ctype: str, identifier: str
) -> dict[str, str]:
    """The fields *and* secrets of one credential, e.g. ``{"username", "password", "url"}``.

    Raises NotFound when there is no such credential, SecretError when it cannot be read.
    """
    row = get_credential(session, acct, ctype, identifier)
    return {**(row.fields or {}), **open_backend(settings, session).read(row.path)}


def account_secrets(
    session: Session, settings: Settings, acct: str, ctype: str | None = None
) -> list[tuple[Credential, dict[str, str]]]:
    """Every credential of ``acct`` (of ``ctype``) with its secret values (for builds)."""
    backend = open_backend(settings, session)
    found = []
    for row in list_credentials(session, acct, ctype):
        try:
            found.append((row, backend.read(row.path)))
        except NotFound:
            continue  # metadata without a value (e.g. deleted in Vault directly)
    return found


def account_secret_values(session: Session, settings: Settings, acct: str) -> list[str]:
    """Every secret value of ``acct``: what a build's log redactor masks."""
    return [
        value
        for _, secrets in account_secrets(session, settings, acct)
        for value in secrets.values()
    ]
