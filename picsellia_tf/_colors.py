"""The fixed colour of each label, shared by previews and the local dashboard.

Import-free (standard library only), so the local platform may use it without importing the
client side.
"""

from __future__ import annotations

import colorsys

RGB = tuple[int, int, int]

_GOLDEN = 0.618033988749895
_LEVELS = ((0.85, 1.0), (0.55, 0.9), (0.9, 0.7))  # (saturation, value), cycled per label


def label_color(index: int) -> RGB:
    """The fixed RGB colour of label ``index`` (0-based position in ``label_names``):
    golden-ratio hues with saturation/value cycling through three levels."""
    k = int(index)
    hue = (0.05 + k * _GOLDEN) % 1.0
    sat, val = _LEVELS[k % len(_LEVELS)]
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (round(r * 255), round(g * 255), round(b * 255))


def hex_color(color: RGB) -> str:
    """``#rrggbb`` of an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*color)
