"""Tar archives the docker executor copies into containers, built in memory."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path

from ocelot.errors import ExecutorError
from ocelot.executors.base import HomeFile


def home_archive(home: str, files: Mapping[str, HomeFile], uid: int, gid: int) -> bytes:
    """A tar of ``files`` under ``home`` (and their directories, 0700), owned by uid:gid; built
    in memory, so the secrets in it never touch the worker's disk."""
    for name in files:
        if name.startswith("/") or ".." in Path(name).parts:
            raise ExecutorError(f"home file {name!r} is not a path inside $HOME")
    buf = io.BytesIO()
    now = time.time()
    top = home.strip("/")
    dirs = {str(parent) for name in files for parent in Path(name).parents} - {"."}
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(dirs):
            info = tarfile.TarInfo(f"{top}/{name}".lstrip("/"))
            info.type, info.mode, info.uid, info.gid, info.mtime = (
                tarfile.DIRTYPE,
                0o700,
                uid,
                gid,
                now,
            )
            tar.addfile(info)
        for name, file in sorted(files.items()):
            data = file.content.encode()
            info = tarfile.TarInfo(f"{top}/{name}".lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), file.mode, uid, gid
            info.mtime = now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
