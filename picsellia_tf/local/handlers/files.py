"""``/storage/...``: signed downloads and presigned uploads, authorised by signature only."""

from __future__ import annotations

import mimetypes

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import send_file
from werkzeug.wrappers import Response

from picsellia_tf.local.app import Ctx, Route
from picsellia_tf.local.handlers.common import require_version
from picsellia_tf.local.parse import preview_parts
from picsellia_tf.local.web import ApiError, bad_request, not_found

MAX_PREVIEW = 32 * 1024 * 1024
_FORM_OVERHEAD = 64 * 1024

# Served inline: raster images, which a browser never runs. Anything else (HTML, SVG, text...)
# is an attachment, so that no uploaded file runs as a page of the API's origin.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)


def download(ctx: Ctx, object_name: str) -> Response:
    """The object's bytes, for a valid signed GET URL."""
    args = ctx.request.args
    ctx.storage.verify("GET", object_name, args.get("expires", ""), args.get("signature", ""))
    try:
        path = ctx.storage.path(object_name)
    except ValueError:
        raise not_found(f"object '{object_name}' not found") from None
    if not path.is_file():
        raise not_found(f"object '{object_name}' not found")
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    inline = mimetype in INLINE_TYPES
    response = send_file(
        path,
        ctx.request.environ,
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=path.name,
        etag=False,
    )
    if not inline:
        response.headers["Content-Security-Policy"] = "sandbox"
    return response


def upload(ctx: Ctx) -> Response:
    """Store the ``file`` part under the form's signed ``key``, if its version still exists."""
    too_large = f"upload larger than {MAX_PREVIEW} bytes"
    length = ctx.request.content_length
    if length is not None and length > MAX_PREVIEW + _FORM_OVERHEAD:
        raise ApiError(413, too_large)
    ctx.request.max_content_length = MAX_PREVIEW + _FORM_OVERHEAD
    try:
        form, files = ctx.request.form, ctx.request.files
    except RequestEntityTooLarge:
        raise ApiError(413, too_large) from None
    for field in ("key", "expires", "signature"):
        if field not in form:
            raise bad_request(f"missing form field '{field}'")
    key = form["key"]
    ctx.storage.verify("POST", key, form["expires"], form["signature"])
    project_id, model_id, training_id = preview_parts(key, "key")
    part = files.get("file")
    if part is None:
        raise bad_request("missing file part 'file'")
    try:
        temp = ctx.storage.write_temp(part.stream, limit=MAX_PREVIEW)
    except ValueError:
        raise ApiError(413, too_large) from None
    try:
        # In one transaction with the check, so a version deleted meanwhile (its folder goes
        # after its deletion commits) either refuses the upload or takes the file with it.
        with ctx.transaction() as db:
            require_version(db, project_id, model_id, training_id)
            ctx.storage.place(temp, key)
    finally:
        ctx.storage.discard(temp)
    return Response(status=204)


ROUTES = [
    Route("POST", "/storage/upload", upload, auth=False, tx=False),
    Route("GET", "/storage/<path:object_name>", download, auth=False, tx=False),
]
