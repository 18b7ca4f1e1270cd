"""Furniture builders: bed and night stands, cabinets, chairs, tables, sofas, TV stand, bookshelves, desks.

Each builder draws its sizes from the builder's generator, finds a free spot (against a wall or anywhere),
records the boxes it is made of in the object's frame and marks its footprint as occupied; it gives up quietly
when no spot is free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.palettes import FABRIC_COLORS, PAINTED_COLORS, WOOD_COLORS, pick_color
from depthpipe.data.synthetic.props import add_table_lamp, add_tabletop_props
from depthpipe.data.synthetic.scene import world_aabb, world_xy


def add_bed(b: Builder) -> None:
    """A bed (frame, mattress, headboard, pillows) with its head against a wall, and night stands beside it."""
    rng = b.rng
    width = float(rng.choice([0.95, 1.4, 1.6, 1.8])) + float(rng.uniform(-0.05, 0.05))
    length, top = float(rng.uniform(1.95, 2.15)), float(rng.uniform(0.45, 0.62))
    head = top + float(rng.uniform(0.35, 0.7))
    spot = b.place_against_wall(width, length, head, walls=[0, 1, 3, 3])
    if spot is None:
        return
    cx, cy, yaw = spot
    f = (cx, cy, yaw)
    obj = b.new_obj()
    wood, cover = pick_color(rng, WOOD_COLORS), pick_color(rng, FABRIC_COLORS)
    b.local_box(f, obj, "bed", "wood", wood, (0, 0, 0.15), (width / 2, length / 2, 0.15))
    b.local_box(
        f,
        obj,
        "bed",
        "fabric",
        cover,
        (0, 0.02, (0.3 + top) / 2),
        (width / 2 - 0.02, length / 2 - 0.05, (top - 0.3) / 2),
    )
    b.local_box(f, obj, "bed", "wood", wood, (0, -length / 2 + 0.03, head / 2), (width / 2 + 0.02, 0.03, head / 2))
    pillow = pick_color(rng, FABRIC_COLORS)
    n = 1 if width < 1.2 else 2
    for i in range(n):
        x = 0.0 if n == 1 else (i - 0.5) * width / 2
        pw = min(0.32, width / (2 * n) - 0.04)
        b.local_box(f, b.new_obj(), "pillow", "fabric", pillow, (x, -length / 2 + 0.3, top + 0.07), (pw, 0.2, 0.07))
    b.occupy(cx, cy, width, length, yaw)
    _night_stands(b, f, width, length)


def _night_stands(b: Builder, bed: tuple[float, float, float], width: float, length: float) -> None:
    """Night stands (each with probability 0.7, often with a table lamp) beside the head end of the bed whose
    frame is ``bed``."""
    rng = b.rng
    yaw = bed[2]
    for side in (-1, 1):
        if rng.random() < 0.7:
            ns_w, ns_d = float(rng.uniform(0.4, 0.55)), float(rng.uniform(0.35, 0.45))
            ns_h = float(rng.uniform(0.45, 0.6))
            lx = side * (width / 2 + ns_w / 2 + 0.05)
            ly = -length / 2 + ns_d / 2 + 0.01
            nx, ny = world_xy(bed, lx, ly)
            if not b.free_floor(world_aabb(nx, ny, ns_w / 2, ns_d / 2, yaw)):
                continue
            fo = (nx, ny, yaw)
            b.local_box(
                fo,
                b.new_obj(),
                "night stand",
                "wood",
                pick_color(rng, WOOD_COLORS),
                (0, 0, ns_h / 2),
                (ns_w / 2, ns_d / 2, ns_h / 2),
                front="drawers",
                rows=2,
            )
            b.occupy(nx, ny, ns_w, ns_d, yaw)
            if rng.random() < 0.7:
                add_table_lamp(b, fo, ns_h)


def add_cabinet(
    b: Builder,
    label: str,
    width: tuple[float, float],
    depth: tuple[float, float],
    height: tuple[float, float],
    front: str,
    walls: Sequence[int] | None = None,
) -> tuple | None:
    """A cabinet-like box (``label``: cabinet, dresser...) of sizes drawn from the ranges, against one of ``walls``,
    with drawer or door lines on its ``front``; returns (cx, cy, yaw, w, d, h) or None where none fits."""
    rng = b.rng
    placed = b.draw_against_wall(width, depth, height, walls=walls)
    if placed is None:
        return None
    (w, d, h), (cx, cy, yaw) = placed
    colors = WOOD_COLORS + PAINTED_COLORS
    b.local_box(
        (cx, cy, yaw),
        b.new_obj(),
        label,
        "wood",
        pick_color(rng, colors),
        (0, 0, h / 2),
        (w / 2, d / 2, h / 2),
        front=front,
        rows=int(rng.integers(2, 5)),
    )
    b.occupy(cx, cy, w, d, yaw)
    return cx, cy, yaw, w, d, h


def _four_legs(
    b: Builder,
    frame: tuple[float, float, float],
    obj: int,
    label: str,
    color: np.ndarray,
    corner: tuple[float, float],
    length: float,
    half: float,
) -> None:
    """Four wooden legs ``length`` tall standing on the floor at (+-x, +-y) = ``corner`` in ``frame``, each
    ``2 * half`` thick."""
    for sx in (-1, 1):
        for sy in (-1, 1):
            b.local_box(
                frame, obj, label, "wood", color, (sx * corner[0], sy * corner[1], length / 2), (half, half, length / 2)
            )


def add_chair(b: Builder, frame: tuple[float, float, float] | None = None) -> None:
    """A chair (seat, four legs, back) at ``frame`` (cx, cy, yaw) if that spot is free, else anywhere free."""
    rng = b.rng
    sw, seat = float(rng.uniform(0.42, 0.5)), float(rng.uniform(0.43, 0.48))
    if frame is None:
        spot = b.place_free(sw + 0.05, sw + 0.05)
        if spot is None:
            return
        frame = spot
    cx, cy, yaw = frame
    if not b.free_floor(world_aabb(cx, cy, sw / 2, sw / 2, yaw), margin=0.01):
        return
    obj = b.new_obj()
    color = pick_color(rng, WOOD_COLORS + PAINTED_COLORS)
    b.local_box(frame, obj, "chair", "wood", color, (0, 0, seat - 0.025), (sw / 2, sw / 2, 0.025))
    _four_legs(b, frame, obj, "chair", color, (sw / 2 - 0.025, sw / 2 - 0.025), seat - 0.05, 0.02)
    back = float(rng.uniform(0.35, 0.5))
    b.local_box(frame, obj, "chair", "wood", color, (0, -sw / 2 + 0.02, seat + back / 2), (sw / 2, 0.02, back / 2))
    b.occupy(cx, cy, sw, sw, yaw, shadow=0.25)


def add_table(
    b: Builder,
    label: str = "table",
    coffee: bool = False,
    chairs: int = 0,
    region: tuple[float, float, float, float] | None = None,
) -> tuple | None:
    """A table (a low coffee table if ``coffee``) aligned with the room, in ``region`` if given, with up to
    ``chairs`` chairs around it and sometimes props on it; returns (cx, cy, yaw, w, d, h) or None."""
    rng = b.rng
    if coffee:
        w, d, h = float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.45, 0.65)), float(rng.uniform(0.38, 0.46))
    else:
        w, d, h = float(rng.uniform(0.9, 1.6)), float(rng.uniform(0.7, 0.95)), float(rng.uniform(0.72, 0.77))
    ax = float(rng.choice([0.0, math.pi / 2]))
    spot = b.place_free(w + (1.1 if chairs else 0.0), d + (1.1 if chairs else 0.0), region=region, yaw=ax)
    if spot is None:
        return None
    cx, cy, yaw = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    color = pick_color(rng, WOOD_COLORS + PAINTED_COLORS)
    b.local_box(f, obj, label, "wood", color, (0, 0, h - 0.02), (w / 2, d / 2, 0.02))
    _four_legs(b, f, obj, label, color, (w / 2 - 0.05, d / 2 - 0.05), h - 0.04, 0.025)
    b.occupy(cx, cy, w, d, yaw, shadow=0.3)
    seats = [
        (0.0, d / 2 + 0.3, math.pi),
        (0.0, -d / 2 - 0.3, 0.0),
        (w / 2 + 0.3, 0.0, math.pi / 2),
        (-w / 2 - 0.3, 0.0, -math.pi / 2),
    ]  # (x, y, turn) in the table's frame, facing the table
    order = rng.permutation(len(seats))
    for k in order[:chairs]:
        lx, ly, a = seats[int(k)]
        x, y = world_xy(f, lx, ly)
        add_chair(b, (x, y, yaw + a + float(rng.normal(0, 0.15))))
    if not coffee and rng.random() < 0.6:
        add_tabletop_props(b, f, w, d, h)
    return cx, cy, yaw, w, d, h


def add_sofa(b: Builder) -> tuple | None:
    """A sofa (seat, back, arms, cushions) with its back to a wall; returns (cx, cy, yaw, w, d) or None."""
    rng = b.rng
    w, d = float(rng.uniform(1.6, 2.4)), float(rng.uniform(0.85, 0.95))
    spot = b.place_against_wall(w, d, 0.9, walls=[0, 1, 3, 3, 2], gap=0.05)
    if spot is None:
        return None
    cx, cy, yaw = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    color = pick_color(rng, FABRIC_COLORS)
    seat, back = float(rng.uniform(0.4, 0.46)), float(rng.uniform(0.78, 0.9))
    b.local_box(f, obj, "sofa", "fabric", color, (0, 0.05, seat / 2), (w / 2 - 0.15, d / 2 - 0.05, seat / 2))
    b.local_box(f, obj, "sofa", "fabric", color, (0, -d / 2 + 0.1, back / 2), (w / 2, 0.1, back / 2))
    for side in (-1, 1):
        b.local_box(f, obj, "sofa", "fabric", color, (side * (w / 2 - 0.075), 0.0, 0.31), (0.075, d / 2, 0.31))
    pillow = pick_color(rng, FABRIC_COLORS)
    for _ in range(int(rng.integers(0, 4))):
        x = float(rng.uniform(-w / 2 + 0.4, w / 2 - 0.4))
        b.local_box(f, b.new_obj(), "pillow", "fabric", pillow, (x, -d / 2 + 0.28, seat + 0.2), (0.2, 0.07, 0.2))
    b.occupy(cx, cy, w, d, yaw)
    return cx, cy, yaw, w, d


def add_tv_stand(b: Builder) -> None:
    """A low cabinet against a wall with a television standing on it."""
    rng = b.rng
    placed = add_cabinet(b, "cabinet", (1.0, 1.8), (0.38, 0.48), (0.4, 0.6), front="doors", walls=[0, 1, 3, 3])
    if placed is None:
        return
    cx, cy, yaw, w, d, h = placed
    f = (cx, cy, yaw)
    tw = min(w - 0.1, float(rng.uniform(0.8, 1.4)))
    th = tw * 0.58
    obj = b.new_obj()
    b.local_box(f, obj, "television", "plain", np.full(3, 0.12, np.float32), (0, 0, h + 0.03), (0.15, 0.1, 0.03))
    b.local_box(
        f, obj, "television", "screen", np.full(3, 0.1, np.float32), (0, 0, h + 0.06 + th / 2), (tw / 2, 0.035, th / 2)
    )


def add_bookshelf(b: Builder, label: str = "bookshelf") -> None:
    """An open shelf unit against a wall, most of its levels holding a row of books."""
    rng = b.rng
    placed = b.draw_against_wall((0.7, 1.2), (0.28, 0.38), (1.5, 2.1))
    if placed is None:
        return
    (w, d, h), (cx, cy, yaw) = placed
    f, obj = (cx, cy, yaw), b.new_obj()
    color = pick_color(rng, WOOD_COLORS + PAINTED_COLORS)
    t = 0.02
    b.local_box(f, obj, label, "wood", color, (0, -d / 2 + t / 2, h / 2), (w / 2, t / 2, h / 2))
    for side in (-1, 1):
        b.local_box(f, obj, label, "wood", color, (side * (w / 2 - t / 2), 0, h / 2), (t / 2, d / 2, h / 2))
    levels = int(rng.integers(4, 6))
    gap = (h - t) / levels
    for k in range(levels + 1):
        b.local_box(f, obj, label, "wood", color, (0, 0, k * gap + t / 2), (w / 2 - t, d / 2, t / 2))
    books = b.new_obj()
    for k in range(levels):
        if rng.random() < 0.85:
            bw = float(rng.uniform(0.4, 1.0)) * (w - 2 * t)
            x0 = float(rng.uniform(-w / 2 + t, w / 2 - t - bw))
            bh = min(gap - 0.03, float(rng.uniform(0.18, 0.3)))
            b.local_box(
                f,
                books,
                "books",
                "books",
                color,
                (x0 + bw / 2, 0.01, k * gap + t + bh / 2),
                (bw / 2, d / 2 - 0.03, bh / 2),
                seed=int(rng.integers(1 << 30)),
            )
    b.occupy(cx, cy, w, d, yaw)


def add_desk(b: Builder) -> None:
    """A desk against a wall (drawer unit, side panel), usually with a monitor and keyboard, and a chair."""
    rng = b.rng
    placed = b.draw_against_wall((1.1, 1.6), (0.6, 0.8), (0.72, 0.76), gap=0.02)
    if placed is None:
        return
    (w, d, h), (cx, cy, yaw) = placed
    f, obj = (cx, cy, yaw), b.new_obj()
    color = pick_color(rng, WOOD_COLORS + PAINTED_COLORS)
    b.local_box(f, obj, "desk", "wood", color, (0, 0, h - 0.015), (w / 2, d / 2, 0.015))
    b.local_box(
        f,
        obj,
        "desk",
        "wood",
        color,
        (w / 2 - 0.22, 0, (h - 0.03) / 2),
        (0.2, d / 2 - 0.02, (h - 0.03) / 2),
        front="drawers",
        rows=3,
    )
    b.local_box(f, obj, "desk", "wood", color, (-w / 2 + 0.02, 0, (h - 0.03) / 2), (0.02, d / 2 - 0.02, (h - 0.03) / 2))
    b.occupy(cx, cy, w, d, yaw, shadow=0.3)
    if rng.random() < 0.8:
        mon = b.new_obj()
        mw = float(rng.uniform(0.45, 0.65))
        b.local_box(
            f, mon, "monitor", "plain", np.full(3, 0.15, np.float32), (0, -d / 2 + 0.2, h + 0.1), (0.04, 0.04, 0.1)
        )
        b.local_box(
            f,
            mon,
            "monitor",
            "screen",
            np.full(3, 0.12, np.float32),
            (0, -d / 2 + 0.2, h + 0.2 + mw * 0.3),
            (mw / 2, 0.02, mw * 0.3),
        )
        b.local_box(
            f,
            b.new_obj(),
            "keyboard",
            "plain",
            pick_color(rng, [(0.15, 0.15, 0.15), (0.85, 0.85, 0.85)]),
            (0, 0.05, h + 0.012),
            (0.22, 0.07, 0.012),
        )
    elif rng.random() < 0.7:
        add_tabletop_props(b, f, w, d, h)
    # a chair in front, turned towards the desk
    x, y = world_xy(f, 0.0, d / 2 + 0.3)
    add_chair(b, (x, y, yaw + math.pi + float(rng.normal(0, 0.3))))
