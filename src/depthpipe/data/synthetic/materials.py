"""Materials: the albedo (and any emission) of each material at texture coordinates in metres.

Patterns live in metres on the surfaces (floor tiles, planks and carpet tiles, ceiling tiles, baseboards,
wallpaper stripes, books, wood grain), so they shrink with distance like perspective does. Each material
function gives a colour (a (3, 1) column or a (3, n) array), a gain multiplying it (a float or (n,)) and an
emission (n,) or None; :func:`albedo` picks the function by the surface's material and combines the parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from depthpipe.data.synthetic.noise import frac, hash01, sample
from depthpipe.data.synthetic.palettes import BOOK_COLORS
from depthpipe.data.synthetic.scene import Surface

_F = np.float32  # scalars are float32 so arithmetic on float32 arrays stays float32
_Pattern = tuple[np.ndarray, np.ndarray | float, np.ndarray | None]  # colour, gain, emission


def albedo(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Albedo (3, n) and emission (n,) or None of surface ``s`` at texture coordinates ``u``, ``v`` (metres).

    ``front`` marks the points on the surface's front face; ``fine`` and ``coarse`` are the frame's noise
    textures (see :func:`~depthpipe.data.synthetic.noise.noise_textures`).
    """
    n = u.shape[0]
    col, gain, emit = _PATTERNS.get(s.material, _unpatterned)(s, u, v, front, fine, coarse)
    out = np.broadcast_to(col, (3, n)) * np.asarray(gain, np.float32)
    return out.astype(np.float32, copy=False), emit


def _rgb(color: Sequence[float] | np.ndarray) -> np.ndarray:
    """A colour as a (3, 1) float32 column (albedo arrays are channel-first: (3, n))."""
    return np.asarray(color, np.float32).reshape(3, 1)


def _unpatterned(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A material without a pattern: the surface's colour."""
    return _rgb(s.color), 1.0, None


# -- room faces -------------------------------------------------------------------------------------
def _painted_wall(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Paint (and ``stripes`` wallpaper) with faint blotches, over a baseboard with a darker top edge."""
    p = s.p
    gain = 1 + 0.04 * sample(coarse, u / 0.1, v / 0.1) + 0.02 * sample(fine, u / 0.01, v / 0.01)
    if s.material == "stripes":
        gain = gain * np.where(frac(u / p["period"]) < 0.5, _F(1), _F(0.86))
    base = v < p["baseboard"]
    col = np.where(base, _rgb(p["bb_color"]), _rgb(s.color))
    gain = np.where(base, np.where(v < p["baseboard"] - 0.012, _F(1), _F(0.75)), gain)
    return col, gain, None


def _planks(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Floor planks in staggered rows: a brightness per plank, grain along it, dark seams."""
    p = s.p
    along, across = (u, v) if p["axis"] == 0 else (v, u)
    row = np.floor(across / p["width"])
    shifted = along / p["length"] + hash01(row)
    plank = np.floor(shifted)
    seam = (frac(across / p["width"]) < 0.006 / p["width"]) | (frac(shifted) < 0.006 / p["length"])
    gain = (0.82 + 0.36 * hash01(row, plank)) * (1 + 0.08 * sample(fine, along / 0.12, across / 0.004))
    gain = np.where(seam, _F(0.45), gain)
    return _rgb(s.color), gain, None


def _carpet_tiles(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Carpet tiles: a brightness per tile, fine pile noise, and alternating pile direction."""
    size = s.p["size"]
    i, j = np.floor(u / size), np.floor(v / size)
    gain = (0.88 + 0.24 * hash01(i, j)) * (1 + 0.12 * sample(fine, u / 0.006, v / 0.006))
    gain = gain * np.where((i + j) % 2 == 0, _F(1), _F(0.93))  # alternating pile direction
    return _rgb(s.color), gain, None


def _ceiling_tiles(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Suspended-ceiling tiles: a dark grid between slightly noisy tiles."""
    size = s.p["size"]
    grid = (frac(u / size) < 0.025 / size) | (frac(v / size) < 0.025 / size)
    gain = np.where(grid, _F(0.7), 1 + 0.05 * sample(fine, u / 0.01, v / 0.01))
    return _rgb(s.color), gain, None


def _floor_tiles(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Floor tiles (``checker``: alternating with a second colour) with a brightness per tile and grout lines."""
    p = s.p
    size = p["size"]
    i, j = np.floor(u / size), np.floor(v / size)
    col = _rgb(s.color)
    if s.material == "checker":
        col = np.where((i + j) % 2 == 0, col, _rgb(p["second"]))
    grout = (frac(u / size) < 0.008 / size) | (frac(v / size) < 0.008 / size)
    gain = (0.93 + 0.14 * hash01(i, j)) * (1 + 0.04 * sample(coarse, u / 0.05, v / 0.05))
    col = np.where(grout, _rgb(p["grout"]), col)
    return col, gain, None


def _carpet(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Carpet (rugs): pile noise at the ``fine`` scale in metres (default 1 cm)."""
    scale = s.p.get("fine", 0.01)
    gain = 1 + 0.15 * sample(fine, u / scale, v / scale)
    return _rgb(s.color), gain, None


def _ceiling(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A plain ceiling with faint blotches."""
    gain = 1 + 0.02 * sample(coarse, u / 0.1, v / 0.1)
    return _rgb(s.color), gain, None


# -- furniture and objects --------------------------------------------------------------------------
def _solid(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Wood, fabric, plain, lamp shade and leaves: a grain per material (lamp shades glow instead), with drawer
    or door lines on the front of boxes that have a ``front`` parameter."""
    m, p = s.material, s.p
    gain: np.ndarray | float = 1.0
    emit: np.ndarray | None = None
    if m == "wood":
        grain = p.get("grain", 0.07)  # streaks along u: slow along the grain, faster across it
        gain = 1 + grain * sample(fine, u / 0.3, v / 0.012) + 0.02 * sample(coarse, u / 0.05, v / 0.05)
    elif m == "fabric":
        gain = 1 + 0.07 * sample(fine, u / 0.005, v / 0.005) + 0.04 * sample(coarse, u / 0.04, v / 0.04)
    elif m == "leaves":
        gain = np.clip(0.8 + 0.6 * sample(fine, u / 0.02, v / 0.02), _F(0.2), _F(1.6))
    elif m == "shade":
        emit = np.full(u.shape[0], 0.35, np.float32)
    else:
        gain = 1 + 0.03 * sample(fine, u / 0.01, v / 0.01)
    front_kind = p.get("front")
    if front_kind is not None:
        gain = gain * _front_pattern(front_kind, int(p.get("rows", 3)), u, v, front, s)
    return _rgb(s.color), gain, emit


def _front_pattern(kind: str, rows: int, u: np.ndarray, v: np.ndarray, front: np.ndarray, s: Surface) -> np.ndarray:
    """Drawer/door lines and handles on the front face of a cabinet-like box (gain factor)."""
    w, h = 2 * float(s.half[0]), 2 * float(s.half[2])
    g = np.ones(u.shape[0], np.float32)
    if kind == "drawers":
        pitch = h / rows
        line = frac(v / pitch) < 0.012 / pitch
        handle = (np.abs(u - w / 2) < 0.06) & (np.abs(frac(v / pitch) * pitch - pitch * 0.7) < 0.012)
    elif kind == "fridge":
        split = h * 0.68
        line = np.abs(v - split) < 0.008
        handle = (np.abs(u - (w - 0.06)) < 0.012) & (np.abs(v - split) > 0.1) & (np.abs(v - split) < 0.5)
    else:
        pitch = w / max(rows, 1)
        line = (frac(u / pitch) < 0.008 / pitch) | (v < 0.012) | (v > h - 0.012)
        handle = (np.abs(frac(u / pitch) * pitch - pitch * 0.85) < 0.01) & (np.abs(v - h * 0.6) < 0.06)
    g = np.where(front & line, 0.55, g)
    return np.where(front & handle, 0.35, g)


def _screen(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Monitors, televisions, microwaves: a dark front getting brighter towards the top (a reflection)."""
    col = np.where(front, _F(0.04), _rgb(s.color))
    gain = np.where(front, 1 + 0.5 * v / max(float(s.half[2]) * 2, 1e-3), _F(1))
    return col, gain, None


def _books(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A row of books seen from the front: spines of random width, colour and height (``seed`` parameter),
    gaps between them; pages on the other faces."""
    n = u.shape[0]
    seed = s.p["seed"]
    book_w = 0.025 + 0.03 * hash01(np.floor(u / 0.04), np.full(n, seed % 1000))
    idx = np.floor(u / book_w)
    pick = (hash01(idx, np.full(n, seed % 997)) * len(BOOK_COLORS)).astype(np.int64)
    spine = BOOK_COLORS.T[:, pick]
    top = v > 2 * float(s.half[2]) * (0.75 + 0.25 * hash01(idx, np.full(n, 7)))
    col = np.where(front, np.where(top, _rgb(s.color) * _F(0.4), spine), _F(0.85))
    gain = np.where(front & (frac(u / book_w) < 0.12), _F(0.6), _F(1))
    return col, gain, None


def _curtain(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Curtains: vertical folds (a sine across the width) with fine noise."""
    gain = 0.78 + 0.22 * np.sin(u * _F(2 * math.pi / 0.11)) + 0.05 * sample(fine, u / 0.01, v / 0.01)
    return _rgb(s.color), gain, None


# -- wall decals ------------------------------------------------------------------------------------
def _inside_frame(s: Surface, u: np.ndarray, v: np.ndarray, border: float) -> np.ndarray:
    """Points of the decal ``s`` more than ``border`` metres inside its edges."""
    w, h = s.rect[2], s.rect[3]
    return (u > border) & (u < w - border) & (v > border) & (v < h - border)


def _picture(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A framed picture: smooth colour noise (offset by the ``seed`` parameter) around the colour, dark frame."""
    inner = _inside_frame(s, u, v, 0.03)
    off = float(s.p["seed"] % 97)
    img = np.stack(
        [
            sample(coarse, u / 0.02 + off, v / 0.02),
            sample(coarse, u / 0.02, v / 0.02 + off),
            sample(coarse, u / 0.02 + 2 * off, v / 0.02 + off),
        ]
    )
    pic = np.clip(_rgb(s.color) + 0.25 * img, _F(0.03), _F(0.97))
    return np.where(inner, pic, _F(0.12)), 1.0, None


def _whiteboard(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A white board in a grey frame."""
    inner = _inside_frame(s, u, v, 0.03)
    return np.where(inner, _F(0.93), _F(0.6))[None, :], 1.0, None


def _mirror(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A mirror: a bluish-grey, faintly glowing glass in a dark frame."""
    inner = _inside_frame(s, u, v, 0.02)
    col = np.where(inner, _rgb([0.55, 0.6, 0.65]), _F(0.3))
    return col, 1.0, np.where(inner, _F(0.15), _F(0))


def _window(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A window: glass panes glowing with sky light (``sky``, brighter upwards) between the frame, ``bars``
    mullions and a transom."""
    p = s.p
    w, h, fb = s.rect[2], s.rect[3], 0.05
    pane = w / (int(p["bars"]) + 1)
    mull = np.abs(frac(u / pane + 0.5) - 0.5) * pane < 0.025
    glass = (u > fb) & (u < w - fb) & (v > fb) & (v < h - fb) & ~mull & (np.abs(v - h / 2) > 0.02)
    sky = p["sky"] * (0.85 + 0.15 * v / h)
    col = np.where(glass, _F(0), _rgb(s.color))
    return col, 1.0, np.where(glass, sky, _F(0)).astype(np.float32)


def _blinds(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """Horizontal slats 2.5 cm apart."""
    return _rgb(s.color), np.where(frac(v / 0.025) < 0.2, _F(0.65), _F(1)), None


def _door(
    s: Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, fine: np.ndarray, coarse: np.ndarray
) -> _Pattern:
    """A door: darker trim, two panel grooves, a handle at ``handle`` metres from its left edge."""
    w, h = s.rect[2], s.rect[3]
    trim = (u < 0.06) | (u > w - 0.06) | (v > h - 0.06)
    panel_edge = ((np.abs(u - 0.15) < 0.012) | (np.abs(u - (w - 0.15)) < 0.012)) & (v > 0.2) & (v < h - 0.2)
    handle = (np.abs(u - s.p["handle"]) < 0.05) & (np.abs(v - 1.0) < 0.025)
    gain = np.where(trim, _F(0.85), np.where(panel_edge, _F(0.7), _F(1)))
    gain = gain * (1 + 0.03 * sample(fine, u / 0.01, v / 0.01))
    return np.where(handle, _F(0.6), _rgb(s.color)), gain, None


_PATTERNS: dict[str, Callable[..., _Pattern]] = {
    "paint": _painted_wall,
    "stripes": _painted_wall,
    "planks": _planks,
    "tiles": _floor_tiles,
    "checker": _floor_tiles,
    "carpet_tiles": _carpet_tiles,
    "ceiling_tiles": _ceiling_tiles,
    "carpet": _carpet,
    "ceiling": _ceiling,
    "wood": _solid,
    "fabric": _solid,
    "plain": _solid,
    "shade": _solid,
    "leaves": _solid,
    "screen": _screen,
    "books": _books,
    "curtain": _curtain,
    "picture": _picture,
    "whiteboard": _whiteboard,
    "mirror": _mirror,
    "window": _window,
    "blinds": _blinds,
    "door": _door,
}
