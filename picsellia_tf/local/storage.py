"""The file folder behind ``/storage/...`` and the HMAC-signed URLs that open it.

A signature is HMAC-SHA256 over ``method``, object name and expiry time, with a secret kept in
the data directory (so URLs stay valid across restarts).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

SECRET_NAME = "storage.key"
URL_TTL = 3600.0
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")
"""Object names that stand in a URL as they are (a listing signs thousands: quote is slow)."""
_CHUNK = 1 << 20


class SignatureError(Exception):
    """A signed URL is expired, forged or malformed."""


@dataclass(frozen=True)
class TempObject:
    """Bytes written to a temporary file, not yet under their object name."""

    path: Path
    size: int
    sha256: str


MAX_OBJECT_NAME = 1024  # characters of an object name
MAX_PART = 255  # bytes of one folder or file name (what file systems take)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (C0, DEL or C1: newlines, tabs, NUL...)."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def check_filename(name: str) -> str | None:
    """What is wrong with ``name`` as one file or folder name, if anything."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return "must be a file name, not empty, '.', '..' or a path"
    if has_control(name):
        return "must not contain control characters (newline, tab, NUL...)"
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    if size > MAX_PART:
        return f"longer than {MAX_PART} bytes"
    return None


def object_parts(object_name: str) -> list[str]:
    """The folders and file of an object name; ValueError for one that could leave the folder,
    or that no file system would take."""
    if len(object_name) > MAX_OBJECT_NAME:
        raise ValueError(f"object name longer than {MAX_OBJECT_NAME} characters")
    parts = object_name.split("/")
    for part in parts:
        problem = check_filename(part)
        if problem is not None:
            raise ValueError(f"invalid object name: {part[:60]!r} {problem}")
    return parts


class Storage:
    """Objects under ``<data_dir>/objects``, addressed by slash-separated object names."""

    def __init__(self, data_dir: Path):
        self.root = data_dir / "objects"
        self.tmp = data_dir / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._secret = self._load_secret(data_dir / SECRET_NAME)
        self.url_ttl = URL_TTL
        """Seconds a signed URL handed out by the API stays valid."""

    @staticmethod
    def _load_secret(path: Path) -> bytes:
        """The signing key, created whole on first use (a server starting at the same time
        never reads a half-written one)."""
        if not path.exists():
            draft = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another server made it first: use theirs
            finally:
                draft.unlink()
        try:
            secret = bytes.fromhex(path.read_text().strip())
        except ValueError:
            secret = b""
        if len(secret) < 16:
            raise ValueError(
                f"{path}: not a storage key (hex digits, at least 32); delete it to make a new "
                "one (signed URLs given out before stop working)"
            )
        return secret

    # -- signing ---------------------------------------------------------------------------

    def sign(self, method: str, object_name: str, expires: int) -> str:
        """The hex signature allowing ``method`` on ``object_name`` until ``expires``."""
        message = f"{method}\n{object_name}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, method: str, object_name: str, expires: str, signature: str) -> None:
        """Raise :class:`SignatureError` unless the signature is valid and not expired."""
        try:
            when = int(expires)
        except ValueError:
            raise SignatureError("signed URL: malformed 'expires'") from None
        given = signature.encode("utf-8", "surrogatepass")  # any text: never a TypeError
        if not hmac.compare_digest(self.sign(method, object_name, when).encode(), given):
            raise SignatureError("signed URL: invalid signature")
        if when < time.time():
            raise SignatureError("signed URL: expired")

    def get_url(self, base_url: str, object_name: str, ttl: float = URL_TTL) -> str:
        """An absolute signed GET URL for ``object_name``."""
        expires = int(time.time() + ttl)
        signature = self.sign("GET", object_name, expires)  # hex: nothing to escape
        path = object_name if _URL_SAFE.fullmatch(object_name) else quote(object_name, safe="/")
        return f"{base_url.rstrip('/')}/storage/{path}?expires={expires}&signature={signature}"

    def post_form(self, base_url: str, object_name: str, ttl: float = URL_TTL) -> dict[str, Any]:
        """A presigned POST ``{"url", "fields"}`` uploading ``object_name``."""
        expires = int(time.time() + ttl)
        fields = {
            "key": object_name,
            "expires": str(expires),
            "signature": self.sign("POST", object_name, expires),
        }
        return {"url": f"{base_url.rstrip('/')}/storage/upload", "fields": fields}

    # -- files ---------------------------------------------------------------------------
    #
    # Bytes are never written over an object another row may point at: they go to a temporary
    # file, then under a new object name (``place``), and the row is switched to that name in
    # a transaction; the name it had goes to the trash (``local/trash.py``) in the same one.

    def path(self, object_name: str) -> Path:
        """The file of ``object_name``; ValueError for a name that could leave the folder."""
        return self.root.joinpath(*object_parts(object_name))

    def exists(self, object_name: str) -> bool:
        """Whether ``object_name`` has been stored."""
        return self.path(object_name).is_file()

    def write_temp(self, stream: IO[bytes], limit: int | None = None) -> TempObject:
        """Copy ``stream`` to a temporary file, hashing it; ValueError past ``limit`` bytes."""
        path = self.tmp / secrets.token_hex(16)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise ValueError(f"larger than {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return TempObject(path, size, digest.hexdigest())

    def place(self, temp: TempObject, object_name: str) -> None:
        """Move a temporary file under ``object_name`` (replacing what was there, whole)."""
        target = self.path(object_name)
        for attempt in range(3):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp.path, target)
                return
            except FileNotFoundError:  # a deletion pruned the new folder: make it again
                if attempt == 2 or not temp.path.exists():
                    raise

    def discard(self, temp: TempObject) -> None:
        """Delete a temporary file (if it was not placed)."""
        temp.path.unlink(missing_ok=True)

    def delete(self, object_name: str) -> None:
        """Delete one object, if present, and the folders it leaves empty."""
        path = self.path(object_name)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under the folder ``prefix``, and the folders it leaves empty."""
        path = self.path(prefix)
        shutil.rmtree(path, ignore_errors=True)
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone, or another upload's)
                return
            folder = folder.parent

    def clear_tmp(self) -> int:
        """Delete every temporary file (left by a server that was killed); how many."""
        removed = 0
        for entry in os.scandir(self.tmp):
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
        return removed
