"""Furnishing recipes: which furniture, props and how many of each a room of each type gets."""

from __future__ import annotations

import math

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.furniture import (
    add_bed,
    add_bookshelf,
    add_cabinet,
    add_chair,
    add_desk,
    add_sofa,
    add_table,
    add_tv_stand,
)
from depthpipe.data.synthetic.kitchen import add_counter_run, add_fridge
from depthpipe.data.synthetic.palettes import FABRIC_COLORS, pick_color
from depthpipe.data.synthetic.props import add_floor_lamp, add_rug, add_small_items


def furnish(b: Builder) -> None:
    """Furnish the room of ``b`` according to its room type (after the wall objects are in place)."""
    _FURNISH[b.room_type](b)


def _furnish_bedroom(b: Builder) -> None:
    """A bed, maybe a dresser, a wardrobe, a desk and a rug, and a few small items."""
    rng = b.rng
    add_bed(b)
    if rng.random() < 0.7:
        add_cabinet(b, "dresser", (0.9, 1.5), (0.42, 0.55), (0.75, 1.0), front="drawers")
    if rng.random() < 0.6:
        add_cabinet(b, "cabinet", (0.8, 1.4), (0.55, 0.62), (1.8, 2.2), front="doors")
    if rng.random() < 0.5:
        add_desk(b)
    if rng.random() < 0.4:
        add_rug(b)
    add_small_items(b, ["box", "bag", "plant"], int(rng.integers(0, 3)))


def _furnish_living_room(b: Builder) -> None:
    """A sofa facing a coffee table (often on a rug), maybe a second sofa, a TV stand, bookshelves, a floor lamp,
    a dining table, an ottoman, and a few small items."""
    rng = b.rng
    sofa = add_sofa(b)
    if sofa is not None:
        _coffee_table(b, sofa)
    if rng.random() < 0.4:
        add_sofa(b)
    if rng.random() < 0.8:
        add_tv_stand(b)
    for _ in range(int(rng.integers(0, 3))):
        add_bookshelf(b)
    if rng.random() < 0.5:
        add_floor_lamp(b)
    if rng.random() < 0.4:
        add_table(b, chairs=int(rng.integers(2, 5)))
    if rng.random() < 0.3:
        _ottoman(b)
    add_small_items(b, ["plant", "box"], int(rng.integers(0, 3)))


def _coffee_table(b: Builder, sofa: tuple[float, float, float, float, float]) -> None:
    """A coffee table in front of ``sofa`` (cx, cy, yaw, w, d), often on a rug."""
    rng = b.rng
    cx, cy, yaw, w, d = sofa
    fx, fy = -math.sin(yaw), math.cos(yaw)
    dist = d / 2 + float(rng.uniform(0.6, 0.9))
    if rng.random() < 0.6:
        add_rug(b, (cx + fx * dist, cy + fy * dist))
    region = (cx + fx * dist - 0.2, cy + fy * dist - 0.2, cx + fx * dist + 0.2, cy + fy * dist + 0.2)
    add_table(b, coffee=True, region=region)


def _ottoman(b: Builder) -> None:
    """A square fabric ottoman anywhere free."""
    rng = b.rng
    w = float(rng.uniform(0.5, 0.8))
    spot = b.place_free(w, w)
    if spot is not None:
        b.box(
            b.new_obj(),
            "ottoman",
            "fabric",
            pick_color(rng, FABRIC_COLORS),
            (spot[0], spot[1], 0.21),
            (w / 2, w / 2, 0.21),
            spot[2],
        )
        b.occupy(spot[0], spot[1], w, w, spot[2])


def _furnish_office(b: Builder) -> None:
    """One to three desks, shelves or cabinets, maybe a meeting table, loose chairs and a few small items."""
    rng = b.rng
    for _ in range(int(rng.integers(1, 4))):
        add_desk(b)
    for _ in range(int(rng.integers(0, 3))):
        if rng.random() < 0.5:
            add_bookshelf(b, "shelves" if rng.random() < 0.4 else "bookshelf")
        else:
            add_cabinet(b, "cabinet", (0.45, 1.0), (0.45, 0.6), (0.7, 1.4), front="drawers")
    if rng.random() < 0.4:
        add_table(b, chairs=int(rng.integers(2, 5)))
    for _ in range(int(rng.integers(0, 3))):
        add_chair(b)
    add_small_items(b, ["box", "box", "plant", "bag"], int(rng.integers(1, 4)))


def _furnish_kitchen(b: Builder) -> None:
    """Counter runs, usually a fridge, often a table with chairs, and a small item or none."""
    rng = b.rng
    add_counter_run(b)
    if rng.random() < 0.8:
        add_fridge(b)
    if rng.random() < 0.6:
        add_table(b, chairs=int(rng.integers(1, 5)))
    add_small_items(b, ["box", "plant"], int(rng.integers(0, 2)))


_FURNISH = {
    "bedroom": _furnish_bedroom,
    "living_room": _furnish_living_room,
    "office": _furnish_office,
    "kitchen": _furnish_kitchen,
}
