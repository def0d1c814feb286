"""The file folder behind ``/storage/...`` and the HMAC-signed URLs that open it.

A signature is HMAC-SHA256 over ``method``, object name and expiry time, with a secret kept in
the data directory (so URLs stay valid across restarts).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

SECRET_NAME = "storage.key"
URL_TTL = 3600.0
_CHUNK = 1 << 20


class SignatureError(Exception):
    """A signed URL is expired, forged or malformed."""


@dataclass(frozen=True)
class TempObject:
    """Bytes written to a temporary file, not yet under their object name."""

    path: Path
    size: int
    sha256: str


def object_parts(object_name: str) -> list[str]:
    """The folders and file of an object name; ValueError for one that could leave the folder."""
    parts = object_name.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
        raise ValueError(f"invalid object name {object_name!r}")
    return parts


class Storage:
    """Objects under ``<data_dir>/objects``, addressed by slash-separated object names."""

    def __init__(self, data_dir: Path):
        self.root = data_dir / "objects"
        self.tmp = data_dir / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._secret = self._load_secret(data_dir / SECRET_NAME)

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
        message = f"{method}\n{object_name}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, method: str, object_name: str, expires: str, signature: str) -> None:
        """Raise :class:`SignatureError` unless the signature is valid and not expired."""
        try:
            when = int(expires)
        except ValueError:
            raise SignatureError("signed URL: malformed 'expires'") from None
        if not hmac.compare_digest(self.sign(method, object_name, when), signature):
            raise SignatureError("signed URL: invalid signature")
        if when < time.time():
            raise SignatureError("signed URL: expired")

    def get_url(self, base_url: str, object_name: str, ttl: float = URL_TTL) -> str:
        """An absolute signed GET URL for ``object_name``."""
        expires = int(time.time() + ttl)
        query = urlencode({"expires": expires, "signature": self.sign("GET", object_name, expires)})
        return f"{base_url.rstrip('/')}/storage/{quote(object_name, safe='/')}?{query}"

    def post_form(self, base_url: str, object_name: str, ttl: float = URL_TTL) -> dict[str, Any]:
        """A presigned POST ``{"url", "fields"}`` uploading ``object_name``."""
        expires = int(time.time() + ttl)
        fields = {
            "key": object_name,
            "expires": str(expires),
            "signature": self.sign("POST", object_name, expires),
        }
        return {"url": f"{base_url.rstrip('/')}/storage/upload", "fields": fields}

    # -- files -----------------------------------------------------------------------------

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

    def commit(self, temp: TempObject, object_name: str) -> None:
        """Move a temporary file under ``object_name`` (replacing what was there)."""
        target = self.path(object_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.path, target)

    def discard(self, temp: TempObject) -> None:
        """Delete a temporary file."""
        temp.path.unlink(missing_ok=True)

    def delete(self, object_name: str) -> None:
        """Delete one object, if present."""
        self.path(object_name).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under the folder ``prefix``."""
        shutil.rmtree(self.path(prefix), ignore_errors=True)
