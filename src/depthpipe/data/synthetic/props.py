"""Small objects: table and floor lamps, tabletop props, boxes, bags and plants against walls, rugs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.palettes import BOOK_COLORS, FABRIC_COLORS, PAINTED_COLORS, pick_color
from depthpipe.data.synthetic.scene import world_aabb


def add_table_lamp(b: Builder, frame: tuple[float, float, float], z: float) -> None:
    """A table lamp (base, pole, shade) standing at height ``z`` at the origin of ``frame`` (cx, cy, yaw)."""
    rng = b.rng
    obj = b.new_obj()
    b.local_cyl(frame, obj, "lamp", "plain", pick_color(rng, PAINTED_COLORS), (0, 0, z), 0.06, 0.03)
    pole = float(rng.uniform(0.2, 0.35))
    b.local_cyl(frame, obj, "lamp", "plain", pick_color(rng, PAINTED_COLORS), (0, 0, z + 0.03), 0.012, pole)
    r = float(rng.uniform(0.1, 0.16))
    b.local_cyl(
        frame,
        obj,
        "lamp",
        "shade",
        pick_color(rng, [(0.95, 0.9, 0.75), (0.9, 0.9, 0.9)]),
        (0, 0, z + 0.03 + pole - 0.05),
        r,
        float(rng.uniform(0.15, 0.22)),
    )


def add_floor_lamp(b: Builder) -> None:
    """A floor lamp (base, pole, shade) near a wall."""
    rng = b.rng
    spot = b.place_against_wall(0.4, 0.4, 1.7, gap=0.1)
    if spot is None:
        return
    cx, cy, yaw = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    metal = pick_color(rng, PAINTED_COLORS)
    b.local_cyl(f, obj, "lamp", "plain", metal, (0, 0, 0), 0.15, 0.03)
    height = float(rng.uniform(1.4, 1.75))
    b.local_cyl(f, obj, "lamp", "plain", metal, (0, 0, 0.03), 0.015, height - 0.2)
    b.local_cyl(
        f, obj, "lamp", "shade", pick_color(rng, [(0.95, 0.9, 0.75), (0.9, 0.88, 0.85)]), (0, 0, height - 0.3), 0.2, 0.3
    )
    b.occupy(cx, cy, 0.3, 0.3, yaw, shadow=0.2)


def add_tabletop_props(b: Builder, frame: tuple[float, float, float], w: float, d: float, h: float) -> None:
    """One to three books, sheets of paper or vases on a ``w`` x ``d`` top at height ``h`` in ``frame``."""
    rng = b.rng
    for _ in range(int(rng.integers(1, 4))):
        lx, ly = float(rng.uniform(-w / 2 + 0.15, w / 2 - 0.15)), float(rng.uniform(-d / 2 + 0.12, d / 2 - 0.12))
        kind = rng.random()
        if kind < 0.4:
            bh = float(rng.uniform(0.03, 0.12))
            b.local_box(
                frame,
                b.new_obj(),
                "books",
                "plain",
                BOOK_COLORS[int(rng.integers(len(BOOK_COLORS)))],
                (lx, ly, h + bh / 2),
                (0.12, 0.09, bh / 2),
            )
        elif kind < 0.7:
            b.local_box(
                frame,
                b.new_obj(),
                "paper",
                "plain",
                np.array([0.92, 0.92, 0.9], np.float32),
                (lx, ly, h + 0.003),
                (0.105, 0.15, 0.003),
            )
        else:
            b.local_cyl(
                frame,
                b.new_obj(),
                "vase",
                "plain",
                pick_color(rng, FABRIC_COLORS),
                (lx, ly, h),
                float(rng.uniform(0.04, 0.07)),
                float(rng.uniform(0.12, 0.3)),
            )


def add_small_items(b: Builder, labels: Sequence[str], n: int) -> None:
    """Up to ``n`` small items against the walls, each a random one of ``labels`` (plant, box or bag)."""
    rng = b.rng
    for _ in range(n):
        label = labels[int(rng.integers(len(labels)))]
        if label == "plant":
            _potted_plant(b)
        else:
            _floor_item(b, label)


def _potted_plant(b: Builder) -> None:
    """A pot (cylinder) with a wider cylinder of leaves on top, near a wall."""
    rng = b.rng
    r = float(rng.uniform(0.12, 0.2))
    spot = b.place_against_wall(2 * r + 0.1, 2 * r + 0.1, 1.0, gap=0.05)
    if spot is None:
        return
    cx, cy, yaw = spot
    obj = b.new_obj()
    ph = float(rng.uniform(0.25, 0.4))
    b.local_cyl(
        (cx, cy, yaw), obj, "plant", "plain", pick_color(rng, [(0.6, 0.35, 0.25), (0.85, 0.85, 0.85)]), (0, 0, 0), r, ph
    )
    b.local_cyl(
        (cx, cy, yaw),
        obj,
        "plant",
        "leaves",
        pick_color(rng, [(0.2, 0.45, 0.18), (0.3, 0.5, 0.2)]),
        (0, 0, ph),
        r * float(rng.uniform(1.3, 1.8)),
        float(rng.uniform(0.3, 0.8)),
    )
    b.occupy(cx, cy, 2 * r, 2 * r, yaw, shadow=0.25)


def _floor_item(b: Builder, label: str) -> None:
    """A box or bag standing near a wall, turned a little off the wall's direction."""
    rng = b.rng
    w, d, h = (float(rng.uniform(0.25, 0.6)), float(rng.uniform(0.2, 0.45)), float(rng.uniform(0.15, 0.5)))
    if label == "bag":
        w, d, h = 0.35, 0.18, 0.4
    spot = b.place_against_wall(w, d, h, gap=float(rng.uniform(0.02, 0.3)))
    if spot is None:
        return
    cx, cy, yaw = spot
    yaw += float(rng.normal(0, 0.3))
    color = pick_color(rng, [(0.6, 0.45, 0.3)] if label == "box" else FABRIC_COLORS)
    b.box(
        b.new_obj(), label, "fabric" if label == "bag" else "plain", color, (cx, cy, h / 2), (w / 2, d / 2, h / 2), yaw
    )
    b.occupy(cx, cy, w, d, yaw)


def add_rug(b: Builder, near: tuple[float, float] | None = None) -> None:
    """A rug centred ``near`` (x, y) or at a random spot in the middle of the room; none if it would touch a
    wall."""
    rng = b.rng
    w, d = float(rng.uniform(1.2, 2.4)), float(rng.uniform(0.8, 1.7))
    yaw = float(rng.choice([0.0, math.pi / 2]))
    wr, dr = float(b.size[0]), float(b.size[1])
    if near is None:
        near = (float(rng.uniform(0.3 * wr, 0.7 * wr)), float(rng.uniform(0.4 * dr, 0.8 * dr)))
    cx, cy = near
    x0, y0, x1, y1 = world_aabb(cx, cy, w / 2, d / 2, yaw)
    if x0 < 0.05 or y0 < 0.05 or x1 > wr - 0.05 or y1 > dr - 0.05:
        return
    b.box(
        b.new_obj(),
        "floor mat",
        "carpet",
        pick_color(rng, FABRIC_COLORS),
        (cx, cy, 0.006),
        (w / 2, d / 2, 0.006),
        yaw,
        fine=0.008,
    )
