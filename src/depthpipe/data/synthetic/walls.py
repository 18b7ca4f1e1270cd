"""Wall objects: doors, windows with blinds or curtains, pictures, whiteboards and mirrors.

All but the curtains are decals (flat rectangles on a wall). Each records the wall span it takes, so that later
wall objects and furniture against the wall keep clear of it.
"""

from __future__ import annotations

import numpy as np

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.palettes import FABRIC_COLORS, WOOD_COLORS, pick_color


def add_wall_objects(b: Builder) -> None:
    """A door, up to two windows (at least one in offices) and one to three pictures, whiteboards or mirrors."""
    rng = b.rng
    height = float(b.size[2])
    _door(b)
    nwin = int(rng.integers(0, 3)) if b.room_type != "office" else int(rng.integers(1, 3))
    for _ in range(nwin):
        _window(b, height)
    for _ in range(int(rng.integers(1, 4))):
        _wall_hanging(b, height)


def _door(b: Builder) -> None:
    """A door, often on a side or the back wall."""
    rng = b.rng
    wall = int(rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.15, 0.25]))
    dw = float(rng.uniform(0.8, 0.95))
    length = b.wall_length(wall)
    s0 = float(rng.uniform(0.1, length - dw - 0.1))
    dh = float(rng.uniform(2.0, 2.1))
    b.decal(
        b.new_obj(),
        "door",
        "door",
        pick_color(rng, WOOD_COLORS + [(0.92, 0.92, 0.9)] * 3),
        wall,
        s0,
        0.0,
        dw,
        dh,
        handle=float(rng.choice([0.08, dw - 0.08])),
    )
    b.wall_spans[wall].append((s0 - 0.05, s0 + dw + 0.05, 0.0))


def _window(b: Builder, height: float) -> None:
    """A window on a side or the far wall (none where it does not fit), often with blinds or curtains."""
    rng = b.rng
    wall = int(rng.choice([0, 1, 3], p=[0.3, 0.3, 0.4]))
    length = b.wall_length(wall)
    ww, wh = float(rng.uniform(0.8, 2.0)), float(rng.uniform(1.0, 1.5))
    sill = float(rng.uniform(0.8, 1.0))
    wh = min(wh, height - sill - 0.2)
    if ww + 0.8 > length:
        return
    s0 = float(rng.uniform(0.4, length - ww - 0.4))
    if not b.wall_free(wall, s0 - 0.3, s0 + ww + 0.3, height):
        return
    obj = b.new_obj()
    b.decal(
        obj,
        "window",
        "window",
        np.array([0.92, 0.92, 0.9], np.float32),
        wall,
        s0,
        sill,
        ww,
        wh,
        sky=float(rng.uniform(0.75, 1.0)),
        bars=int(rng.integers(1, 4)),
    )
    b.wall_spans[wall].append((s0 - 0.3, s0 + ww + 0.3, sill - 0.05))
    style = rng.random()
    if style < 0.4:
        drop = float(rng.uniform(0.3, 1.0)) * wh
        b.decal(
            b.new_obj(),
            "blinds",
            "blinds",
            pick_color(rng, [(0.9, 0.9, 0.88), (0.75, 0.7, 0.6)]),
            wall,
            s0,
            sill + wh - drop,
            ww,
            drop,
        )
    elif style < 0.8:
        _curtains(b, wall, s0, ww, sill, wh)


def _wall_hanging(b: Builder, height: float) -> None:
    """A picture, or by chance a whiteboard (offices) or a mirror (bedrooms), where it fits on a free span."""
    rng = b.rng
    wall = int(rng.choice([0, 1, 3], p=[0.3, 0.3, 0.4]))
    length = b.wall_length(wall)
    if b.room_type == "office" and rng.random() < 0.4:
        label, pw, ph, z0 = "whiteboard", float(rng.uniform(1.2, 2.0)), float(rng.uniform(0.9, 1.2)), 0.9
    elif b.room_type == "bedroom" and rng.random() < 0.2:
        label, pw, ph, z0 = "mirror", float(rng.uniform(0.4, 0.8)), float(rng.uniform(0.8, 1.4)), 0.6
    else:
        label, pw, ph = "picture", float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 0.8))
        z0 = float(rng.uniform(1.1, 1.6))
    if pw + 0.2 > length or z0 + ph > height - 0.1:
        return
    s0 = float(rng.uniform(0.1, length - pw - 0.1))
    if not b.wall_free(wall, s0, s0 + pw, height):
        return
    b.decal(
        b.new_obj(),
        label,
        label,
        pick_color(rng, FABRIC_COLORS + WOOD_COLORS),
        wall,
        s0,
        z0,
        pw,
        ph,
        seed=int(rng.integers(1 << 30)),
    )
    b.wall_spans[wall].append((s0, s0 + pw, z0))


def _curtains(b: Builder, wall: int, s0: float, ww: float, sill: float, wh: float) -> None:
    """Two curtains (thin boxes) hanging a little in front of ``wall``, either side of the window [s0, s0 + ww]."""
    rng = b.rng
    w_room, d_room, h_room = (float(v) for v in b.size)
    color = pick_color(rng, FABRIC_COLORS)
    top = min(h_room - 0.05, sill + wh + 0.25)
    bottom = float(rng.choice([0.02, max(0.02, sill - 0.15)]))
    cw = float(rng.uniform(0.25, 0.5))
    th = 0.04
    for s_c in (s0 - cw * 0.6, s0 + ww + cw * 0.6 - cw):
        sc = s_c + cw / 2
        off = th / 2 + 0.06
        cx, cy = {0: (off, sc), 1: (w_room - off, sc), 3: (sc, d_room - off)}[wall]
        half = (th / 2, cw / 2, (top - bottom) / 2) if wall < 2 else (cw / 2, th / 2, (top - bottom) / 2)
        b.box(b.new_obj(), "curtain", "curtain", color, (cx, cy, (top + bottom) / 2), half, 0.0)
