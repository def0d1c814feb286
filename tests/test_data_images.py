"""data.load on awkward files: EXIF rotation, grayscale, RGBA, a truncated file, a non-image."""

from __future__ import annotations

import io
import uuid
import warnings

import numpy as np
import pytest
from PIL import Image

from picsellia_tf import data
from picsellia_tf.data.synthetic import create_project
from picsellia_tf.errors import PicselliaError
from picsellia_tf.local_platform import LocalPlatform
from picsellia_tf.types import Rectangle, Shape

RED, BLUE = (230, 20, 20), (20, 20, 230)


def displayed_exif_image() -> np.ndarray:
    """What a viewer shows: 48 wide, 64 high, red top-left quadrant, blue elsewhere."""
    shown = np.zeros((64, 48, 3), np.uint8)
    shown[:] = BLUE
    shown[:32, :24] = RED
    return shown


def write_files(tmp):
    files = {}
    # Stored rotated 90 degrees counter-clockwise, with EXIF orientation 6 ("rotate 90 CW to
    # display"): a viewer (and the annotator) sees displayed_exif_image().
    stored = Image.fromarray(displayed_exif_image()).transpose(Image.Transpose.ROTATE_90)
    assert stored.size == (64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp / "exif.jpg", quality=95, exif=exif.tobytes())
    files["exif.jpg"] = [Shape("rectangle", "thing", rectangle=Rectangle(0, 0, 24, 32))]

    gray = np.tile(np.arange(0, 240, 5, dtype=np.uint8)[None, :], (40, 1))  # 48 wide, 40 high
    Image.fromarray(gray, mode="L").save(tmp / "gray.png")
    files["gray.png"] = [Shape("rectangle", "thing", rectangle=Rectangle(1, 1, 10, 10))]

    rgba = np.zeros((30, 20, 4), np.uint8)
    rgba[..., :3] = (10, 200, 90)
    rgba[..., 3] = 128
    Image.fromarray(rgba, mode="RGBA").save(tmp / "rgba.png")
    files["rgba.png"] = [Shape("rectangle", "thing", rectangle=Rectangle(2, 2, 5, 5))]

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, format="JPEG")
    (tmp / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    files["truncated.jpg"] = [Shape("rectangle", "thing", rectangle=Rectangle(1, 1, 5, 5))]

    (tmp / "notes.jpg").write_bytes(b"this is not an image at all\n" * 10)
    files["notes.jpg"] = [Shape("rectangle", "thing", rectangle=Rectangle(1, 1, 5, 5))]
    return [tmp / name for name in files], files


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("images")
    paths, shapes = write_files(tmp)
    with LocalPlatform(tmp / "platform") as local:
        pid, did = create_project(
            local.client, f"images-{uuid.uuid4().hex[:8]}", paths, shapes, labels=["thing"]
        )
        yield local.client, pid, did, tmp


def _load(project, cache, **kw):
    client, pid, did, _ = project
    kw.setdefault("progress", False)
    return data.load(client, pid, did, task="detection", shuffle=False, cache_dir=cache, **kw)


def test_awkward_files_load_or_are_reported(project, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds, info = _load(project, tmp_path / "cache")
    elements = list(ds)
    assert info.num_examples == 3 == len(elements)

    # EXIF: upright as displayed, 48 wide x 64 high, red quadrant top-left; the box annotated
    # on the displayed image lands on it.
    exif_img, exif_target = elements[0]
    assert exif_img.shape == (64, 48, 3)
    img = exif_img.numpy().astype(int)
    assert np.abs(img[4:28, 4:20] - RED).max() < 30
    assert np.abs(img[36:60, 28:44] - BLUE).max() < 30
    assert np.abs(img[4:28, 28:44] - BLUE).max() < 30  # would be red if left unrotated
    np.testing.assert_array_equal(exif_target["boxes"].numpy(), [[0, 0, 24, 32]])

    gray_img = elements[1][0].numpy()
    assert gray_img.shape == (40, 48, 3)
    assert (gray_img[..., 0] == gray_img[..., 1]).all() and (
        gray_img[..., 1] == gray_img[..., 2]
    ).all()
    np.testing.assert_array_equal(gray_img[0, :, 0], np.arange(0, 240, 5))

    rgba_img = elements[2][0].numpy()
    assert rgba_img.shape == (30, 20, 3)
    assert (rgba_img == (10, 200, 90)).all()

    bad = {s.filename: s.reason for s in info.skipped if s.shape_index is None}
    assert set(bad) == {"truncated.jpg", "notes.jpg"}
    assert all("not a decodable image" in r for r in bad.values())
    messages = [str(w.message) for w in caught]
    assert any("skipped 2 image(s)" in m and "notes.jpg" in m for m in messages), messages


def test_awkward_files_with_a_size_batch(project, tmp_path):
    ds, info = _load(
        project, tmp_path / "cache", image_size=(32, 32), batch_size=3, on_error="ignore"
    )
    images, target = next(iter(ds))
    assert images.shape == (3, 32, 32, 3)
    assert target["labels"].to_list() == [[0], [0], [0]]


def test_on_error_raise_names_the_image(project, tmp_path):
    with pytest.raises(PicselliaError) as err:
        _load(project, tmp_path / "cache", on_error="raise")
    assert isinstance(err.value, data.DataError)
    assert err.value.filename in ("truncated.jpg", "notes.jpg")
    assert err.value.filename in str(err.value) and "not a decodable image" in str(err.value)


def test_batching_mixed_sizes_without_image_size_is_refused(project, tmp_path):
    with pytest.raises(PicselliaError, match="image_size"):
        _load(project, tmp_path / "cache", batch_size=2, on_error="ignore")
