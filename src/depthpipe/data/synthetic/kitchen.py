"""Kitchen fittings: counter runs (base cabinets, worktop, sink, stove, microwave, wall cabinets) and fridges."""

from __future__ import annotations

import numpy as np

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.palettes import PAINTED_COLORS, WOOD_COLORS, pick_color


def add_counter_run(b: Builder) -> None:
    """Kitchen: base cabinets with a counter top (sink, stove, microwave) along a wall, wall cabinets above."""
    rng = b.rng
    for wall in [int(w) for w in rng.permutation([0, 1, 3])][:2]:
        _counter_along(b, wall)


def _counter_along(b: Builder, wall: int) -> None:
    """A counter run against ``wall``, shortened until it fits (or none)."""
    rng = b.rng
    length = b.wall_length(wall)
    run = float(rng.uniform(0.5, 0.9)) * length
    d, h = 0.6, 0.88
    spot = None
    for _ in range(10):
        spot = b.place_against_wall(run, d, h, walls=[wall], tries=3)
        if spot is not None:
            break
        run *= 0.8
    if spot is None:
        return
    cx, cy, yaw = spot
    f = (cx, cy, yaw)
    cab = pick_color(rng, WOOD_COLORS + PAINTED_COLORS)
    b.local_box(
        f,
        b.new_obj(),
        "cabinet",
        "wood",
        cab,
        (0, -0.02, (h - 0.04) / 2),
        (run / 2, d / 2 - 0.02, (h - 0.04) / 2),
        front="doors",
        rows=max(1, int(run / 0.5)),
    )
    top = pick_color(rng, [(0.85, 0.85, 0.82), (0.2, 0.2, 0.2), (0.55, 0.5, 0.45), (0.7, 0.68, 0.62)])
    b.local_box(f, b.new_obj(), "counter", "plain", top, (0, 0.0, h - 0.02), (run / 2 + 0.01, d / 2 + 0.01, 0.02))
    _on_counter(b, f, run, h)
    if rng.random() < 0.8:
        uz0 = float(rng.uniform(1.42, 1.55))
        uh = min(0.75, float(b.size[2]) - uz0 - 0.05)
        b.local_box(
            f,
            b.new_obj(),
            "cabinet",
            "wood",
            cab,
            (0, -d / 2 + 0.18, uz0 + uh / 2),
            (run / 2, 0.17, uh / 2),
            front="doors",
            rows=max(1, int(run / 0.5)),
        )
    b.occupy(cx, cy, run, d, yaw)


def _on_counter(b: Builder, f: tuple[float, float, float], run: float, h: float) -> None:
    """Sink, stove and microwave (each by chance, where the run is long enough) on a counter of height ``h``."""
    rng = b.rng
    if rng.random() < 0.8 and run > 0.9:
        x = float(rng.uniform(-run / 2 + 0.4, run / 2 - 0.4))
        b.local_box(
            f,
            b.new_obj(),
            "sink",
            "plain",
            np.array([0.7, 0.72, 0.75], np.float32),
            (x, 0.0, h + 0.01),
            (0.3, 0.22, 0.01),
        )
    if rng.random() < 0.6 and run > 1.4:
        x = float(rng.uniform(-run / 2 + 0.35, run / 2 - 0.35))
        b.local_box(
            f, b.new_obj(), "stove", "plain", np.full(3, 0.12, np.float32), (x, 0.0, h + 0.008), (0.3, 0.28, 0.008)
        )
    if rng.random() < 0.5 and run > 0.7:
        x = float(rng.uniform(-run / 2 + 0.3, run / 2 - 0.3))
        b.local_box(
            f,
            b.new_obj(),
            "microwave",
            "screen",
            pick_color(rng, PAINTED_COLORS),
            (x, -0.05, h + 0.15),
            (0.25, 0.18, 0.15),
        )


def add_fridge(b: Builder) -> None:
    """A fridge against a wall: a tall box with a door split and a handle on its front."""
    rng = b.rng
    placed = b.draw_against_wall((0.6, 0.9), (0.65, 0.75), (1.7, 1.9))
    if placed is None:
        return
    (w, d, h), (cx, cy, yaw) = placed
    color = pick_color(rng, [(0.88, 0.88, 0.86), (0.6, 0.62, 0.64)])
    b.local_box(
        (cx, cy, yaw),
        b.new_obj(),
        "refridgerator",
        "wood",
        color,
        (0, 0, h / 2),
        (w / 2, d / 2, h / 2),
        front="fridge",
        rows=2,
        grain=0.01,
    )
    b.occupy(cx, cy, w, d, yaw)
