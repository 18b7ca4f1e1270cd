"""The scene description the renderer reads: surfaces, lights, furniture footprints and the camera pose.

World coordinates are metres with z up; the room is the box [0, W] x [0, D] x [0, H]. Its six faces are
numbered 0 wall x=0, 1 wall x=W, 2 wall y=0, 3 wall y=D, 4 floor, 5 ceiling; that number is both the face's
surface index in :attr:`Scene.surfaces` (the room's faces come first) and the ``wall`` of a decal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Surface:
    """One shaded surface: a room face (kind ``room``), a box, a vertical cylinder or a wall decal."""

    kind: str  # room | box | cyl | decal
    label: str
    obj: int  # object number: surfaces of one object share an instance id
    material: str
    color: np.ndarray  # (3,) albedo
    center: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))  # box centre / cylinder base
    half: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))  # box half sizes / (r, r, height)
    yaw: float = 0.0
    wall: int = -1  # room face index for room surfaces and decals
    rect: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # decal (s0, z0, width, height) on its wall
    p: dict = field(default_factory=dict)  # material parameters


@dataclass
class Scene:
    """A furnished room, its lights and the camera that sees it."""

    room_type: str
    size: np.ndarray  # (W, D, H) metres: the room is [0, W] x [0, D] x [0, H], z up
    surfaces: list[Surface]
    lights: list[tuple[np.ndarray, float]]  # (position, power)
    ambient: float
    footprints: list[tuple[float, float, float, float, float, float]]  # cx, cy, hx, hy, yaw, strength
    cam_pos: np.ndarray  # (3,)
    cam_rot: np.ndarray  # (3, 3) camera -> world (camera x right, y down, z forward)
    exposure: float
    tint: np.ndarray  # (3,) white balance


# Inward normals of the room faces, indexed by face number (see the module docstring).
ROOM_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32)


def world_aabb(cx: float, cy: float, hx: float, hy: float, yaw: float) -> tuple[float, float, float, float]:
    """Plan bounding rectangle (x0, y0, x1, y1) of a ``2 hx`` x ``2 hy`` rectangle centred at (cx, cy), turned by
    ``yaw``."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ey = c * hx + s * hy, s * hx + c * hy
    return cx - ex, cy - ey, cx + ex, cy + ey


def world_xy(frame: tuple[float, float, float], lx: float, ly: float) -> tuple[float, float]:
    """World plan position of the point (lx, ly) given in an object frame (cx, cy, yaw)."""
    cx, cy, yaw = frame
    c, s = math.cos(yaw), math.sin(yaw)
    return cx + c * lx - s * ly, cy + s * lx + c * ly
