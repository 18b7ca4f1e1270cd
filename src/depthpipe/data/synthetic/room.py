"""Building a scene: room type and size, the room's own materials, camera pose and lights, around the furniture.

The room is [0, W] x [0, D] x [0, H] with W across the view and D along it; the camera stands near the y=0
wall looking into the room.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from depthpipe.data.synthetic.builder import Builder
from depthpipe.data.synthetic.camera import rotation
from depthpipe.data.synthetic.furnishing import furnish
from depthpipe.data.synthetic.palettes import CARPET_COLORS, FLOOR_TILE_COLORS, WALL_COLORS, WOOD_COLORS, pick_color
from depthpipe.data.synthetic.scene import Scene, Surface
from depthpipe.data.synthetic.walls import add_wall_objects

ROOM_TYPES = ("bedroom", "living_room", "office", "kitchen")

_ROOM_SIZES = {  # (W range, D range): W across the view, D along it
    "bedroom": ((3.0, 4.6), (3.4, 6.0)),
    "living_room": ((3.6, 6.0), (4.5, 10.0)),
    "office": ((3.2, 6.5), (4.0, 10.3)),
    "kitchen": ((2.6, 4.5), (3.2, 7.0)),
}

_FLOOR_KINDS = {  # floor materials by room type; repeats make a material likelier
    "bedroom": ["planks", "planks", "carpet_tiles", "tiles"],
    "living_room": ["planks", "planks", "tiles", "carpet_tiles"],
    "office": ["carpet_tiles", "carpet_tiles", "tiles", "planks"],
    "kitchen": ["tiles", "tiles", "checker", "planks"],
}


def build_scene(rng: np.random.Generator) -> Scene:
    """A random room of a random type: its size, camera, shell, wall objects, furniture and lights."""
    kind = ROOM_TYPES[int(rng.integers(len(ROOM_TYPES)))]
    (w0, w1), (d0, d1) = _ROOM_SIZES[kind]
    # room length skewed towards the small end (most rooms are small), up to ~10 m in living rooms/offices
    size = np.array([rng.uniform(w0, w1), d0 + (d1 - d0) * rng.random() ** 1.3, rng.uniform(2.45, 2.95)])
    w, d, h = (float(v) for v in size)
    cam, cam_rot = _place_camera(rng, w, d)
    surfaces = room_surfaces(rng, kind)
    b = Builder(rng, kind, size, cam[:2])
    b.surfaces = surfaces
    add_wall_objects(b)
    furnish(b)
    lights = _lights(rng, w, d, h)
    return Scene(
        kind,
        size.astype(np.float32),
        b.surfaces,
        lights,
        float(rng.uniform(0.2, 0.3)),
        b.footprints,
        cam,
        cam_rot,
        float(rng.uniform(0.92, 1.08)),
        rng.uniform(0.95, 1.05, 3).astype(np.float32),
    )


def _place_camera(rng: np.random.Generator, w: float, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Camera position (near the y=0 wall, 1.0-1.8 m high) and camera-to-world rotation: looking at a random
    point in the far part of a ``w`` x ``d`` room, slightly down, with a little roll."""
    cam = np.array(
        [
            rng.uniform(0.5, w - 0.5),
            rng.uniform(0.35, max(0.6, 0.25 * d)),
            float(np.clip(rng.normal(1.4, 0.18), 1.0, 1.8)),
        ]
    )
    target = np.array([rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.6 * d, d)])
    yaw = math.atan2(-(target[0] - cam[0]), target[1] - cam[1]) + float(rng.normal(0, 0.08))
    pitch = math.radians(float(np.clip(rng.normal(-7.0, 4.0), -16.0, 4.0)))
    roll = math.radians(float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0)))
    return cam, rotation(yaw, pitch, roll)


def _lights(rng: np.random.Generator, w: float, d: float, h: float) -> list[tuple[np.ndarray, float]]:
    """Ceiling point lights (position, power) 0.3 m below the ceiling: one, and a second in long rooms or by
    chance."""
    lights = [(np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * d, h - 0.3]), float(rng.uniform(1.4, 1.9)))]
    if d > 5.5 or rng.random() < 0.3:
        lights.append(
            (np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.6, 0.9) * d, h - 0.3]), float(rng.uniform(0.8, 1.4)))
        )
    return lights


def room_surfaces(rng: np.random.Generator, kind: str) -> list[Surface]:
    """The room's six faces (surfaces 0-5: four walls, floor, ceiling) with materials drawn for a ``kind`` room."""
    wall_color = pick_color(rng, WALL_COLORS, 0.05)
    wall_mat = "stripes" if kind in ("bedroom", "living_room") and rng.random() < 0.25 else "paint"
    wall_p = dict(
        baseboard=float(rng.uniform(0.07, 0.12)),
        bb_color=pick_color(rng, [(0.95, 0.95, 0.93), (0.4, 0.3, 0.2)]),
        period=float(rng.uniform(0.12, 0.3)),
    )
    floor_mat, floor_color, floor_params = _floor(rng, kind)
    ceil_mat = "ceiling_tiles" if kind == "office" or rng.random() < 0.15 else "ceiling"
    ceil_color = pick_color(rng, [(0.92, 0.92, 0.9), (0.88, 0.86, 0.82)], 0.03)
    out = []
    for k in range(4):
        out.append(Surface("room", "wall", 1000 + k, wall_mat, wall_color, wall=k, p=wall_p))
    out.append(Surface("room", "floor", 1004, floor_mat, floor_color, wall=4, p=floor_params))
    out.append(Surface("room", "ceiling", 1005, ceil_mat, ceil_color, wall=5, p=dict(size=0.6)))
    return out


def _floor(rng: np.random.Generator, kind: str) -> tuple[str, np.ndarray, dict[str, Any]]:
    """Floor material, colour and material parameters for a ``kind`` room."""
    floor_kind = _FLOOR_KINDS[kind]
    floor_mat = floor_kind[int(rng.integers(len(floor_kind)))]
    if floor_mat == "planks":
        floor_color = pick_color(rng, WOOD_COLORS)
        params: dict[str, Any] = dict(
            width=float(rng.uniform(0.1, 0.2)), length=float(rng.uniform(0.9, 1.8)), axis=int(rng.integers(2))
        )
    elif floor_mat == "carpet_tiles":
        floor_color = pick_color(rng, CARPET_COLORS)
        params = dict(size=0.5)
    else:
        floor_color = pick_color(rng, FLOOR_TILE_COLORS)
        params = dict(
            size=float(rng.choice([0.3, 0.4, 0.45, 0.6])),
            grout=pick_color(rng, [(0.45, 0.43, 0.4), (0.9, 0.9, 0.88)]),
            second=pick_color(rng, FLOOR_TILE_COLORS + [(0.15, 0.15, 0.15)]),
        )
    return floor_mat, floor_color, params
