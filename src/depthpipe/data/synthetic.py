"""Procedural indoor scenes in the NYU Depth v2 labeled layout: the default, offline data source.

Each frame is a box-shaped room (floor, four walls, ceiling) furnished according to its type (bedroom,
living room, office, kitchen) with furniture built from boxes rotated about the vertical axis and vertical
cylinders, plus planar wall objects (doors, windows with blinds or curtains, pictures, whiteboards, mirrors).
It is seen through the NYU Kinect RGB intrinsics from a camera 1.0-1.8 m above the floor with a small pitch
and roll, and rendered by vectorised numpy ray casting: the room is the exit of the ray from the room's slab,
every other primitive is a ray-box slab test (or a ray-cylinder test) restricted to its projected bounding
rectangle. The z-buffer holds the depth along the optical axis (the camera-frame z, like Kinect depth), not the
Euclidean ray length: rays are parametrised with a unit camera z component, so the ray parameter *is* that depth.

Depth is meant to be inferable from the image (a small CNN must learn it from a few hundred frames):

* geometry is physically consistent: rooms 2.45-2.95 m high, furniture of real sizes standing on the floor or
  against walls, a camera at a plausible height looking into the room;
* textures live in metres on the surfaces (floor tiles, planks and carpet tiles, ceiling tiles, baseboards,
  wallpaper stripes, books, wood grain), so they shrink with distance like perspective does;
* Lambertian shading from ceiling point lights with distance fall-off plus ambient, room-corner and contact
  darkening, and a mild distance-dependent darkening; slight sensor noise on top.

Everything is deterministic in ``(seed, index)``: a frame draws from ``np.random.default_rng([seed, index])``
only, so frames can be rendered in any order or in parallel and give the same bytes.

Per frame: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W) float32 metres, dense, in (0, 10]; ``raw_depth`` with
Kinect-like holes as 0 (shadow bands beside depth discontinuities, glass and dark screens, specular blobs,
beyond 9.5 m, speckle and a thin border: about 5-20 % of the pixels); ``label`` (H, W) uint16 NYU ids looked up
by name in ``classMapping40.mat`` (see :func:`label_ids`); ``instance`` (H, W) uint8 (per label, from 1);
``scene`` such as ``synthetic_bedroom_0003``.

:func:`write_synthetic` writes a NYU-layout labeled ``.mat`` (through
:class:`~depthpipe.data.nyu_mat.NYULabeledWriter`) and a ``splits.mat``; :func:`render_examples` draws the
figure in ``docs/synthetic_examples.png``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from depthpipe.data.meta import load_class_mapping, write_splits
from depthpipe.data.nyu_mat import NYULabeledWriter
from depthpipe.errors import DepthpipeError
from depthpipe.io import atomic_path

NYU_HEIGHT, NYU_WIDTH = 480, 640
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)  # fx, fy, cx, cy of the Kinect RGB camera at 640x480
MAX_DEPTH = 10.0  # metres: the dense depth lies in (0, MAX_DEPTH]
KINECT_MIN_RANGE, KINECT_MAX_RANGE = 0.45, 9.5  # raw depth is missing outside this range
KINECT_BASELINE = 0.075  # metres between IR projector and camera: sets the width of the shadow bands
ROOM_TYPES = ("bedroom", "living_room", "office", "kitchen")

# The NYU label names the generator uses and the 40-class name each must map to in classMapping40.mat.
LABEL_CLASSES: dict[str, str] = {
    "wall": "wall", "floor": "floor", "ceiling": "ceiling", "cabinet": "cabinet", "bed": "bed",
    "chair": "chair", "sofa": "sofa", "table": "table", "door": "door", "window": "window",
    "bookshelf": "bookshelf", "picture": "picture", "counter": "counter", "blinds": "blinds", "desk": "desk",
    "shelves": "shelves", "curtain": "curtain", "dresser": "dresser", "pillow": "pillow", "mirror": "mirror",
    "floor mat": "floor mat", "books": "books", "refridgerator": "refridgerator", "television": "television",
    "paper": "paper", "box": "box", "whiteboard": "whiteboard", "night stand": "night stand", "sink": "sink",
    "lamp": "lamp", "bag": "bag", "stove": "otherstructure", "ottoman": "otherfurniture",
    "monitor": "otherprop", "keyboard": "otherprop", "plant": "otherprop", "microwave": "otherprop",
    "vase": "otherprop",
}

_F = np.float32  # scalars are float32 so arithmetic on float32 arrays stays float32
_FLOOR_CELL = 0.025  # metres: plan grid of the floor occlusion
_TEX = 128  # side of the per-frame noise textures (power of two: indices wrap with & (_TEX - 1))


# ------------------------------------------------------------------------------------------------
# Label ids
# ------------------------------------------------------------------------------------------------
def label_ids(class_mapping: str | os.PathLike[str]) -> dict[str, int]:
    """The NYU id (1..894) of every name in :data:`LABEL_CLASSES`, looked up by name in ``classMapping40.mat``.

    Checks that the 40-class mapping sends each id to the expected 40-class name, so labels written with these
    ids come out as the right classes downstream.
    """
    lut, names40, names894 = load_class_mapping(class_mapping)
    if len(names894) != lut.size - 1:
        raise DepthpipeError(
            f"{class_mapping}: 'allClassName' lists {len(names894)} names, expected {lut.size - 1}"
        )
    ids: dict[str, int] = {}
    for name, cls in LABEL_CLASSES.items():
        if name not in names894:
            raise DepthpipeError(f"{class_mapping}: NYU label name '{name}' not found in 'allClassName'")
        k = names894.index(name) + 1
        got = names40[int(lut[k]) - 1]
        if got != cls:
            raise DepthpipeError(
                f"{class_mapping}: NYU label '{name}' (id {k}) maps to 40-class '{got}', expected '{cls}'"
            )
        ids[name] = k
    return ids


# ------------------------------------------------------------------------------------------------
# Scene description
# ------------------------------------------------------------------------------------------------
@dataclass
class _Surface:
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
class _Scene:
    room_type: str
    size: np.ndarray  # (W, D, H) metres: the room is [0, W] x [0, D] x [0, H], z up
    surfaces: list[_Surface]
    lights: list[tuple[np.ndarray, float]]  # (position, power)
    ambient: float
    footprints: list[tuple[float, float, float, float, float, float]]  # cx, cy, hx, hy, yaw, strength
    cam_pos: np.ndarray  # (3,)
    cam_rot: np.ndarray  # (3, 3) camera -> world (camera x right, y down, z forward)
    exposure: float
    tint: np.ndarray  # (3,) white balance


# Room faces: 0 wall x=0, 1 wall x=W, 2 wall y=0, 3 wall y=D, 4 floor, 5 ceiling.
_ROOM_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32)
_WALL_YAW = (-math.pi / 2, math.pi / 2, 0.0, math.pi)  # yaw that turns an object's front (+y) into the room

_WALL_COLORS = [(0.85, 0.83, 0.78), (0.9, 0.9, 0.88), (0.78, 0.8, 0.82), (0.8, 0.85, 0.78), (0.88, 0.82, 0.7),
                (0.75, 0.8, 0.88), (0.86, 0.78, 0.74), (0.7, 0.72, 0.7)]
_WOOD_COLORS = [(0.55, 0.38, 0.22), (0.42, 0.28, 0.16), (0.68, 0.52, 0.34), (0.3, 0.2, 0.13), (0.75, 0.62, 0.45),
                (0.5, 0.33, 0.2)]
_FLOOR_TILE_COLORS = [(0.8, 0.78, 0.74), (0.62, 0.6, 0.58), (0.85, 0.84, 0.82), (0.55, 0.5, 0.45),
                      (0.72, 0.66, 0.56)]
_CARPET_COLORS = [(0.45, 0.43, 0.4), (0.35, 0.38, 0.45), (0.55, 0.5, 0.42), (0.4, 0.3, 0.28), (0.3, 0.32, 0.3)]
_FABRIC_COLORS = [(0.6, 0.2, 0.18), (0.2, 0.3, 0.55), (0.35, 0.5, 0.3), (0.7, 0.65, 0.55), (0.3, 0.3, 0.32),
                  (0.75, 0.55, 0.3), (0.5, 0.45, 0.6), (0.85, 0.85, 0.82), (0.25, 0.45, 0.5)]
_PAINTED_COLORS = [(0.9, 0.9, 0.88), (0.2, 0.2, 0.22), (0.6, 0.62, 0.64), (0.82, 0.8, 0.74), (0.45, 0.5, 0.55)]
_BOOK_COLORS = np.array([(0.7, 0.15, 0.12), (0.15, 0.25, 0.55), (0.2, 0.45, 0.25), (0.85, 0.75, 0.3),
                         (0.9, 0.9, 0.85), (0.15, 0.15, 0.15), (0.6, 0.35, 0.15), (0.45, 0.2, 0.45),
                         (0.3, 0.6, 0.7), (0.8, 0.45, 0.2)], np.float32)


def _color(rng: np.random.Generator, palette: Sequence[tuple[float, float, float]], jitter: float = 0.08) -> np.ndarray:
    base = np.asarray(palette[int(rng.integers(len(palette)))], np.float32)
    return np.clip(base * rng.uniform(1 - jitter, 1 + jitter, 3).astype(np.float32), 0.02, 0.98)


def _world_aabb(cx: float, cy: float, hx: float, hy: float, yaw: float) -> tuple[float, float, float, float]:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    ex, ey = c * hx + s * hy, s * hx + c * hy
    return cx - ex, cy - ey, cx + ex, cy + ey


class _Builder:
    """Places furniture in a room without overlaps and records the surfaces it is made of."""

    def __init__(self, rng: np.random.Generator, room_type: str, size: np.ndarray, cam_xy: np.ndarray) -> None:
        self.rng, self.room_type, self.size, self.cam_xy = rng, room_type, size, cam_xy
        self.surfaces: list[_Surface] = []
        self.footprints: list[tuple[float, float, float, float, float, float]] = []
        self.boxes2d: list[tuple[float, float, float, float]] = []  # occupied floor rectangles (world AABBs)
        self.wall_spans: list[list[tuple[float, float, float]]] = [[], [], [], []]  # (s0, s1, z_bottom) per wall
        self.nobj = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    def new_obj(self) -> int:
        self.nobj += 1
        return self.nobj

    def wall_length(self, wall: int) -> float:
        return float(self.size[1] if wall < 2 else self.size[0])

    def free_floor(self, rect: tuple[float, float, float, float], margin: float = 0.04, cam_clear: float = 0.75) -> bool:
        x0, y0, x1, y1 = rect
        w, d = float(self.size[0]), float(self.size[1])
        if x0 < 0.005 or y0 < 0.005 or x1 > w - 0.005 or y1 > d - 0.005:
            return False
        cx, cy = float(self.cam_xy[0]), float(self.cam_xy[1])
        dx, dy = max(x0 - cx, 0.0, cx - x1), max(y0 - cy, 0.0, cy - y1)
        if math.hypot(dx, dy) < cam_clear:
            return False
        for a0, b0, a1, b1 in self.boxes2d:
            if x0 < a1 + margin and a0 < x1 + margin and y0 < b1 + margin and b0 < y1 + margin:
                return False
        return True

    def wall_free(self, wall: int, s0: float, s1: float, z_top: float) -> bool:
        """Whether the span [s0, s1] of ``wall`` is free of doors/windows below ``z_top``."""
        return all(s1 <= a or s0 >= b or z_top <= zb for a, b, zb in self.wall_spans[wall])

    # -- primitives ----------------------------------------------------------------------------
    def box(self, obj: int, label: str, material: str, color: np.ndarray, center: Sequence[float],
            half: Sequence[float], yaw: float = 0.0, **p: object) -> None:
        self.surfaces.append(_Surface("box", label, obj, material, np.asarray(color, np.float32),
                                      np.asarray(center, np.float32), np.asarray(half, np.float32), float(yaw), p=p))

    def cyl(self, obj: int, label: str, material: str, color: np.ndarray, base: Sequence[float], radius: float,
            height: float, **p: object) -> None:
        self.surfaces.append(_Surface("cyl", label, obj, material, np.asarray(color, np.float32),
                                      np.asarray(base, np.float32), np.asarray([radius, radius, height], np.float32),
                                      p=p))

    def decal(self, obj: int, label: str, material: str, color: np.ndarray, wall: int, s0: float, z0: float,
              width: float, height: float, **p: object) -> None:
        self.surfaces.append(_Surface("decal", label, obj, material, np.asarray(color, np.float32), wall=wall,
                                      rect=(float(s0), float(z0), float(width), float(height)), p=p))

    # -- placement -----------------------------------------------------------------------------
    def local_box(self, frame: tuple[float, float, float], obj: int, label: str, material: str, color: np.ndarray,
                  lc: Sequence[float], half: Sequence[float], **p: object) -> None:
        """A box given in an object frame (cx, cy, yaw): ``lc`` is its centre in that frame (z up from floor)."""
        cx, cy, yaw = frame
        c, s = math.cos(yaw), math.sin(yaw)
        x, y = cx + c * lc[0] - s * lc[1], cy + s * lc[0] + c * lc[1]
        self.box(obj, label, material, color, (x, y, lc[2]), half, yaw, **p)

    def local_cyl(self, frame: tuple[float, float, float], obj: int, label: str, material: str, color: np.ndarray,
                  lc: Sequence[float], radius: float, height: float, **p: object) -> None:
        cx, cy, yaw = frame
        c, s = math.cos(yaw), math.sin(yaw)
        self.cyl(obj, label, material, color, (cx + c * lc[0] - s * lc[1], cy + s * lc[0] + c * lc[1], lc[2]),
                 radius, height, **p)

    def place_against_wall(self, width: float, depth: float, height: float, walls: Sequence[int] | None = None,
                           tries: int = 25, gap: float = 0.01) -> tuple[float, float, float, int, float] | None:
        """A free spot with the object's back to a wall: (cx, cy, yaw, wall, s) or None."""
        walls = list(walls) if walls is not None else [0, 1, 3, 3, 2]
        w, d = float(self.size[0]), float(self.size[1])
        for _ in range(tries):
            wall = int(walls[int(self.rng.integers(len(walls)))])
            length = self.wall_length(wall)
            if width + 0.1 > length:
                continue
            s = float(self.rng.uniform(width / 2 + 0.03, length - width / 2 - 0.03))
            if not self.wall_free(wall, s - width / 2, s + width / 2, height):
                continue
            off = depth / 2 + gap
            cx, cy = {0: (off, s), 1: (w - off, s), 2: (s, off), 3: (s, d - off)}[wall]
            yaw = _WALL_YAW[wall]
            rect = _world_aabb(cx, cy, width / 2, depth / 2, yaw)
            if self.free_floor(rect):
                return cx, cy, yaw, wall, s
        return None

    def place_free(self, width: float, depth: float, region: tuple[float, float, float, float] | None = None,
                   yaw: float | None = None, tries: int = 25) -> tuple[float, float, float] | None:
        """A free spot anywhere (or in ``region`` = x0, y0, x1, y1): (cx, cy, yaw) or None."""
        w, d = float(self.size[0]), float(self.size[1])
        x0, y0, x1, y1 = region if region is not None else (0.3, 0.3, w - 0.3, d - 0.3)
        for _ in range(tries):
            a = float(self.rng.uniform(0, 2 * math.pi)) if yaw is None else yaw
            cx, cy = float(self.rng.uniform(x0, max(x0, x1))), float(self.rng.uniform(y0, max(y0, y1)))
            if self.free_floor(_world_aabb(cx, cy, width / 2, depth / 2, a)):
                return cx, cy, a
        return None

    def occupy(self, cx: float, cy: float, width: float, depth: float, yaw: float, shadow: float = 0.35) -> None:
        self.boxes2d.append(_world_aabb(cx, cy, width / 2, depth / 2, yaw))
        self.footprints.append((cx, cy, width / 2, depth / 2, yaw, shadow))


# -- furniture -------------------------------------------------------------------------------------
def _bed(b: _Builder) -> None:
    rng = b.rng
    width = float(rng.choice([0.95, 1.4, 1.6, 1.8])) + float(rng.uniform(-0.05, 0.05))
    length, top = float(rng.uniform(1.95, 2.15)), float(rng.uniform(0.45, 0.62))
    head = top + float(rng.uniform(0.35, 0.7))
    spot = b.place_against_wall(width, length, head, walls=[0, 1, 3, 3])
    if spot is None:
        return
    cx, cy, yaw, _, _ = spot
    f = (cx, cy, yaw)
    obj = b.new_obj()
    wood, cover = _color(rng, _WOOD_COLORS), _color(rng, _FABRIC_COLORS)
    b.local_box(f, obj, "bed", "wood", wood, (0, 0, 0.15), (width / 2, length / 2, 0.15))
    b.local_box(f, obj, "bed", "fabric", cover, (0, 0.02, (0.3 + top) / 2), (width / 2 - 0.02, length / 2 - 0.05,
                                                                              (top - 0.3) / 2))
    b.local_box(f, obj, "bed", "wood", wood, (0, -length / 2 + 0.03, head / 2), (width / 2 + 0.02, 0.03, head / 2))
    pillow = _color(rng, _FABRIC_COLORS)
    n = 1 if width < 1.2 else 2
    for i in range(n):
        x = 0.0 if n == 1 else (i - 0.5) * width / 2
        pw = min(0.32, width / (2 * n) - 0.04)
        b.local_box(f, b.new_obj(), "pillow", "fabric", pillow, (x, -length / 2 + 0.3, top + 0.07), (pw, 0.2, 0.07))
    b.occupy(cx, cy, width, length, yaw)
    # night stands beside the head end
    for side in (-1, 1):
        if rng.random() < 0.7:
            ns_w, ns_d, ns_h = float(rng.uniform(0.4, 0.55)), float(rng.uniform(0.35, 0.45)), float(rng.uniform(0.45, 0.6))
            lx = side * (width / 2 + ns_w / 2 + 0.05)
            ly = -length / 2 + ns_d / 2 + 0.01
            c, s = math.cos(yaw), math.sin(yaw)
            nx, ny = cx + c * lx - s * ly, cy + s * lx + c * ly
            if not b.free_floor(_world_aabb(nx, ny, ns_w / 2, ns_d / 2, yaw)):
                continue
            fo = (nx, ny, yaw)
            b.local_box(fo, b.new_obj(), "night stand", "wood", _color(rng, _WOOD_COLORS), (0, 0, ns_h / 2),
                        (ns_w / 2, ns_d / 2, ns_h / 2), front="drawers", rows=2)
            b.occupy(nx, ny, ns_w, ns_d, yaw)
            if rng.random() < 0.7:
                _table_lamp(b, fo, ns_h)


def _table_lamp(b: _Builder, frame: tuple[float, float, float], z: float) -> None:
    rng = b.rng
    obj = b.new_obj()
    b.local_cyl(frame, obj, "lamp", "plain", _color(rng, _PAINTED_COLORS), (0, 0, z), 0.06, 0.03)
    pole = float(rng.uniform(0.2, 0.35))
    b.local_cyl(frame, obj, "lamp", "plain", _color(rng, _PAINTED_COLORS), (0, 0, z + 0.03), 0.012, pole)
    r = float(rng.uniform(0.1, 0.16))
    b.local_cyl(frame, obj, "lamp", "shade", _color(rng, [(0.95, 0.9, 0.75), (0.9, 0.9, 0.9)]),
                (0, 0, z + 0.03 + pole - 0.05), r, float(rng.uniform(0.15, 0.22)))


def _floor_lamp(b: _Builder) -> None:
    rng = b.rng
    spot = b.place_against_wall(0.4, 0.4, 1.7, gap=0.1)
    if spot is None:
        return
    cx, cy, yaw, _, _ = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    metal = _color(rng, _PAINTED_COLORS)
    b.local_cyl(f, obj, "lamp", "plain", metal, (0, 0, 0), 0.15, 0.03)
    height = float(rng.uniform(1.4, 1.75))
    b.local_cyl(f, obj, "lamp", "plain", metal, (0, 0, 0.03), 0.015, height - 0.2)
    b.local_cyl(f, obj, "lamp", "shade", _color(rng, [(0.95, 0.9, 0.75), (0.9, 0.88, 0.85)]), (0, 0, height - 0.3),
                0.2, 0.3)
    b.occupy(cx, cy, 0.3, 0.3, yaw, shadow=0.2)


def _cabinet(b: _Builder, label: str, width: tuple[float, float], depth: tuple[float, float],
             height: tuple[float, float], front: str, walls: Sequence[int] | None = None) -> tuple | None:
    rng = b.rng
    w, d, h = (float(rng.uniform(*width)), float(rng.uniform(*depth)), float(rng.uniform(*height)))
    spot = b.place_against_wall(w, d, h, walls=walls)
    if spot is None:
        return None
    cx, cy, yaw, _, _ = spot
    colors = _WOOD_COLORS + _PAINTED_COLORS
    b.local_box((cx, cy, yaw), b.new_obj(), label, "wood", _color(rng, colors), (0, 0, h / 2),
                (w / 2, d / 2, h / 2), front=front, rows=int(rng.integers(2, 5)))
    b.occupy(cx, cy, w, d, yaw)
    return cx, cy, yaw, w, d, h


def _chair(b: _Builder, frame: tuple[float, float, float] | None = None) -> None:
    rng = b.rng
    sw, seat = float(rng.uniform(0.42, 0.5)), float(rng.uniform(0.43, 0.48))
    if frame is None:
        spot = b.place_free(sw + 0.05, sw + 0.05)
        if spot is None:
            return
        frame = spot
    cx, cy, yaw = frame
    if not b.free_floor(_world_aabb(cx, cy, sw / 2, sw / 2, yaw), margin=0.01):
        return
    obj = b.new_obj()
    color = _color(rng, _WOOD_COLORS + _PAINTED_COLORS)
    b.local_box(frame, obj, "chair", "wood", color, (0, 0, seat - 0.025), (sw / 2, sw / 2, 0.025))
    for lx in (-1, 1):
        for ly in (-1, 1):
            b.local_box(frame, obj, "chair", "wood", color, (lx * (sw / 2 - 0.025), ly * (sw / 2 - 0.025),
                                                             (seat - 0.05) / 2), (0.02, 0.02, (seat - 0.05) / 2))
    back = float(rng.uniform(0.35, 0.5))
    b.local_box(frame, obj, "chair", "wood", color, (0, -sw / 2 + 0.02, seat + back / 2), (sw / 2, 0.02, back / 2))
    b.occupy(cx, cy, sw, sw, yaw, shadow=0.25)


def _table(b: _Builder, label: str = "table", coffee: bool = False, chairs: int = 0,
           region: tuple[float, float, float, float] | None = None) -> tuple | None:
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
    color = _color(rng, _WOOD_COLORS + _PAINTED_COLORS)
    b.local_box(f, obj, label, "wood", color, (0, 0, h - 0.02), (w / 2, d / 2, 0.02))
    for lx in (-1, 1):
        for ly in (-1, 1):
            b.local_box(f, obj, label, "wood", color, (lx * (w / 2 - 0.05), ly * (d / 2 - 0.05), (h - 0.04) / 2),
                        (0.025, 0.025, (h - 0.04) / 2))
    b.occupy(cx, cy, w, d, yaw, shadow=0.3)
    c, s = math.cos(yaw), math.sin(yaw)
    seats = [(0.0, d / 2 + 0.3, math.pi), (0.0, -d / 2 - 0.3, 0.0), (w / 2 + 0.3, 0.0, math.pi / 2),
             (-w / 2 - 0.3, 0.0, -math.pi / 2)]
    order = rng.permutation(len(seats))
    for k in order[:chairs]:
        lx, ly, a = seats[int(k)]
        _chair(b, (cx + c * lx - s * ly, cy + s * lx + c * ly, yaw + a + float(rng.normal(0, 0.15))))
    if not coffee and rng.random() < 0.6:
        _tabletop_props(b, f, w, d, h)
    return cx, cy, yaw, w, d, h


def _tabletop_props(b: _Builder, frame: tuple[float, float, float], w: float, d: float, h: float) -> None:
    rng = b.rng
    for _ in range(int(rng.integers(1, 4))):
        lx, ly = float(rng.uniform(-w / 2 + 0.15, w / 2 - 0.15)), float(rng.uniform(-d / 2 + 0.12, d / 2 - 0.12))
        kind = rng.random()
        if kind < 0.4:
            bh = float(rng.uniform(0.03, 0.12))
            b.local_box(frame, b.new_obj(), "books", "plain", _BOOK_COLORS[int(rng.integers(len(_BOOK_COLORS)))],
                        (lx, ly, h + bh / 2), (0.12, 0.09, bh / 2))
        elif kind < 0.7:
            b.local_box(frame, b.new_obj(), "paper", "plain", np.array([0.92, 0.92, 0.9], np.float32),
                        (lx, ly, h + 0.003), (0.105, 0.15, 0.003))
        else:
            b.local_cyl(frame, b.new_obj(), "vase", "plain", _color(rng, _FABRIC_COLORS), (lx, ly, h),
                        float(rng.uniform(0.04, 0.07)), float(rng.uniform(0.12, 0.3)))


def _sofa(b: _Builder) -> tuple | None:
    rng = b.rng
    w, d = float(rng.uniform(1.6, 2.4)), float(rng.uniform(0.85, 0.95))
    spot = b.place_against_wall(w, d, 0.9, walls=[0, 1, 3, 3, 2], gap=0.05)
    if spot is None:
        return None
    cx, cy, yaw, _, _ = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    color = _color(rng, _FABRIC_COLORS)
    seat, back = float(rng.uniform(0.4, 0.46)), float(rng.uniform(0.78, 0.9))
    b.local_box(f, obj, "sofa", "fabric", color, (0, 0.05, seat / 2), (w / 2 - 0.15, d / 2 - 0.05, seat / 2))
    b.local_box(f, obj, "sofa", "fabric", color, (0, -d / 2 + 0.1, back / 2), (w / 2, 0.1, back / 2))
    for side in (-1, 1):
        b.local_box(f, obj, "sofa", "fabric", color, (side * (w / 2 - 0.075), 0.0, 0.31), (0.075, d / 2, 0.31))
    pillow = _color(rng, _FABRIC_COLORS)
    for i in range(int(rng.integers(0, 4))):
        x = float(rng.uniform(-w / 2 + 0.4, w / 2 - 0.4))
        b.local_box(f, b.new_obj(), "pillow", "fabric", pillow, (x, -d / 2 + 0.28, seat + 0.2), (0.2, 0.07, 0.2))
    b.occupy(cx, cy, w, d, yaw)
    return cx, cy, yaw, w, d


def _tv_stand(b: _Builder) -> None:
    rng = b.rng
    placed = _cabinet(b, "cabinet", (1.0, 1.8), (0.38, 0.48), (0.4, 0.6), front="doors", walls=[0, 1, 3, 3])
    if placed is None:
        return
    cx, cy, yaw, w, d, h = placed
    f = (cx, cy, yaw)
    tw = min(w - 0.1, float(rng.uniform(0.8, 1.4)))
    th = tw * 0.58
    obj = b.new_obj()
    b.local_box(f, obj, "television", "plain", np.full(3, 0.12, np.float32), (0, 0, h + 0.03), (0.15, 0.1, 0.03))
    b.local_box(f, obj, "television", "screen", np.full(3, 0.1, np.float32), (0, 0, h + 0.06 + th / 2),
                (tw / 2, 0.035, th / 2))


def _bookshelf(b: _Builder, label: str = "bookshelf") -> None:
    rng = b.rng
    w, d, h = float(rng.uniform(0.7, 1.2)), float(rng.uniform(0.28, 0.38)), float(rng.uniform(1.5, 2.1))
    spot = b.place_against_wall(w, d, h)
    if spot is None:
        return
    cx, cy, yaw, _, _ = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    color = _color(rng, _WOOD_COLORS + _PAINTED_COLORS)
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
            b.local_box(f, books, "books", "books", color, (x0 + bw / 2, 0.01, k * gap + t + bh / 2),
                        (bw / 2, d / 2 - 0.03, bh / 2), seed=int(rng.integers(1 << 30)))
    b.occupy(cx, cy, w, d, yaw)


def _desk(b: _Builder) -> None:
    rng = b.rng
    w, d, h = float(rng.uniform(1.1, 1.6)), float(rng.uniform(0.6, 0.8)), float(rng.uniform(0.72, 0.76))
    spot = b.place_against_wall(w, d, h, gap=0.02)
    if spot is None:
        return
    cx, cy, yaw, _, _ = spot
    f, obj = (cx, cy, yaw), b.new_obj()
    color = _color(rng, _WOOD_COLORS + _PAINTED_COLORS)
    b.local_box(f, obj, "desk", "wood", color, (0, 0, h - 0.015), (w / 2, d / 2, 0.015))
    b.local_box(f, obj, "desk", "wood", color, (w / 2 - 0.22, 0, (h - 0.03) / 2), (0.2, d / 2 - 0.02, (h - 0.03) / 2),
                front="drawers", rows=3)
    b.local_box(f, obj, "desk", "wood", color, (-w / 2 + 0.02, 0, (h - 0.03) / 2), (0.02, d / 2 - 0.02, (h - 0.03) / 2))
    b.occupy(cx, cy, w, d, yaw, shadow=0.3)
    if rng.random() < 0.8:
        mon = b.new_obj()
        mw = float(rng.uniform(0.45, 0.65))
        b.local_box(f, mon, "monitor", "plain", np.full(3, 0.15, np.float32), (0, -d / 2 + 0.2, h + 0.1), (0.04, 0.04, 0.1))
        b.local_box(f, mon, "monitor", "screen", np.full(3, 0.12, np.float32), (0, -d / 2 + 0.2, h + 0.2 + mw * 0.3),
                    (mw / 2, 0.02, mw * 0.3))
        b.local_box(f, b.new_obj(), "keyboard", "plain", _color(rng, [(0.15, 0.15, 0.15), (0.85, 0.85, 0.85)]),
                    (0, 0.05, h + 0.012), (0.22, 0.07, 0.012))
    elif rng.random() < 0.7:
        _tabletop_props(b, f, w, d, h)
    # a chair in front, turned towards the desk
    c, s = math.cos(yaw), math.sin(yaw)
    ly = d / 2 + 0.3
    _chair(b, (cx - s * ly, cy + c * ly, yaw + math.pi + float(rng.normal(0, 0.3))))


def _counter_run(b: _Builder) -> None:
    """Kitchen: base cabinets with a counter top (sink, stove, microwave) along a wall, wall cabinets above."""
    rng = b.rng
    for wall in [int(w) for w in rng.permutation([0, 1, 3])][:2]:
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
            continue
        cx, cy, yaw, _, _ = spot
        f = (cx, cy, yaw)
        cab = _color(rng, _WOOD_COLORS + _PAINTED_COLORS)
        b.local_box(f, b.new_obj(), "cabinet", "wood", cab, (0, -0.02, (h - 0.04) / 2), (run / 2, d / 2 - 0.02,
                                                                                          (h - 0.04) / 2),
                    front="doors", rows=max(1, int(run / 0.5)))
        top = _color(rng, [(0.85, 0.85, 0.82), (0.2, 0.2, 0.2), (0.55, 0.5, 0.45), (0.7, 0.68, 0.62)])
        b.local_box(f, b.new_obj(), "counter", "plain", top, (0, 0.0, h - 0.02), (run / 2 + 0.01, d / 2 + 0.01, 0.02))
        if rng.random() < 0.8 and run > 0.9:
            x = float(rng.uniform(-run / 2 + 0.4, run / 2 - 0.4))
            b.local_box(f, b.new_obj(), "sink", "plain", np.array([0.7, 0.72, 0.75], np.float32), (x, 0.0, h + 0.01),
                        (0.3, 0.22, 0.01))
        if rng.random() < 0.6 and run > 1.4:
            x = float(rng.uniform(-run / 2 + 0.35, run / 2 - 0.35))
            b.local_box(f, b.new_obj(), "stove", "plain", np.full(3, 0.12, np.float32), (x, 0.0, h + 0.008),
                        (0.3, 0.28, 0.008))
        if rng.random() < 0.5 and run > 0.7:
            x = float(rng.uniform(-run / 2 + 0.3, run / 2 - 0.3))
            b.local_box(f, b.new_obj(), "microwave", "screen", _color(rng, _PAINTED_COLORS), (x, -0.05, h + 0.15),
                        (0.25, 0.18, 0.15))
        if rng.random() < 0.8:
            uz0 = float(rng.uniform(1.42, 1.55))
            uh = min(0.75, float(b.size[2]) - uz0 - 0.05)
            b.local_box(f, b.new_obj(), "cabinet", "wood", cab, (0, -d / 2 + 0.18, uz0 + uh / 2), (run / 2, 0.17, uh / 2),
                        front="doors", rows=max(1, int(run / 0.5)))
        b.occupy(cx, cy, run, d, yaw)


def _fridge(b: _Builder) -> None:
    rng = b.rng
    w, d, h = float(rng.uniform(0.6, 0.9)), float(rng.uniform(0.65, 0.75)), float(rng.uniform(1.7, 1.9))
    spot = b.place_against_wall(w, d, h)
    if spot is None:
        return
    cx, cy, yaw, _, _ = spot
    b.local_box((cx, cy, yaw), b.new_obj(), "refridgerator", "wood", _color(rng, [(0.88, 0.88, 0.86), (0.6, 0.62, 0.64)]),
                (0, 0, h / 2), (w / 2, d / 2, h / 2), front="fridge", rows=2, grain=0.01)
    b.occupy(cx, cy, w, d, yaw)


def _small_items(b: _Builder, labels: Sequence[str], n: int) -> None:
    rng = b.rng
    for _ in range(n):
        label = labels[int(rng.integers(len(labels)))]
        if label == "plant":
            r = float(rng.uniform(0.12, 0.2))
            spot = b.place_against_wall(2 * r + 0.1, 2 * r + 0.1, 1.0, gap=0.05)
            if spot is None:
                continue
            cx, cy, yaw, _, _ = spot
            obj = b.new_obj()
            ph = float(rng.uniform(0.25, 0.4))
            b.local_cyl((cx, cy, yaw), obj, "plant", "plain", _color(rng, [(0.6, 0.35, 0.25), (0.85, 0.85, 0.85)]),
                        (0, 0, 0), r, ph)
            b.local_cyl((cx, cy, yaw), obj, "plant", "leaves", _color(rng, [(0.2, 0.45, 0.18), (0.3, 0.5, 0.2)]),
                        (0, 0, ph), r * float(rng.uniform(1.3, 1.8)), float(rng.uniform(0.3, 0.8)))
            b.occupy(cx, cy, 2 * r, 2 * r, yaw, shadow=0.25)
        else:
            w, d, h = (float(rng.uniform(0.25, 0.6)), float(rng.uniform(0.2, 0.45)), float(rng.uniform(0.15, 0.5)))
            if label == "bag":
                w, d, h = 0.35, 0.18, 0.4
            spot = b.place_against_wall(w, d, h, gap=float(rng.uniform(0.02, 0.3)))
            if spot is None:
                continue
            cx, cy, yaw, _, _ = spot
            yaw += float(rng.normal(0, 0.3))
            color = _color(rng, [(0.6, 0.45, 0.3)] if label == "box" else _FABRIC_COLORS)
            b.box(b.new_obj(), label, "fabric" if label == "bag" else "plain", color, (cx, cy, h / 2),
                  (w / 2, d / 2, h / 2), yaw)
            b.occupy(cx, cy, w, d, yaw)


def _rug(b: _Builder, near: tuple[float, float] | None = None) -> None:
    rng = b.rng
    w, d = float(rng.uniform(1.2, 2.4)), float(rng.uniform(0.8, 1.7))
    yaw = float(rng.choice([0.0, math.pi / 2]))
    wr, dr = float(b.size[0]), float(b.size[1])
    cx, cy = near if near is not None else (float(rng.uniform(0.3 * wr, 0.7 * wr)), float(rng.uniform(0.4 * dr, 0.8 * dr)))
    x0, y0, x1, y1 = _world_aabb(cx, cy, w / 2, d / 2, yaw)
    if x0 < 0.05 or y0 < 0.05 or x1 > wr - 0.05 or y1 > dr - 0.05:
        return
    b.box(b.new_obj(), "floor mat", "carpet", _color(rng, _FABRIC_COLORS), (cx, cy, 0.006), (w / 2, d / 2, 0.006),
          yaw, fine=0.008)


# -- wall objects ------------------------------------------------------------------------------------
def _wall_objects(b: _Builder) -> None:
    rng = b.rng
    height = float(b.size[2])
    # a door, often on a side or the back wall
    wall = int(rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.15, 0.25]))
    dw = float(rng.uniform(0.8, 0.95))
    length = b.wall_length(wall)
    s0 = float(rng.uniform(0.1, length - dw - 0.1))
    dh = float(rng.uniform(2.0, 2.1))
    b.decal(b.new_obj(), "door", "door", _color(rng, _WOOD_COLORS + [(0.92, 0.92, 0.9)] * 3), wall, s0, 0.0, dw, dh,
            handle=float(rng.choice([0.08, dw - 0.08])))
    b.wall_spans[wall].append((s0 - 0.05, s0 + dw + 0.05, 0.0))
    # windows with blinds or curtains
    nwin = int(rng.integers(0, 3)) if b.room_type != "office" else int(rng.integers(1, 3))
    for _ in range(nwin):
        wall = int(rng.choice([0, 1, 3], p=[0.3, 0.3, 0.4]))
        length = b.wall_length(wall)
        ww, wh = float(rng.uniform(0.8, 2.0)), float(rng.uniform(1.0, 1.5))
        sill = float(rng.uniform(0.8, 1.0))
        wh = min(wh, height - sill - 0.2)
        if ww + 0.8 > length:
            continue
        s0 = float(rng.uniform(0.4, length - ww - 0.4))
        if not b.wall_free(wall, s0 - 0.3, s0 + ww + 0.3, height):
            continue
        obj = b.new_obj()
        b.decal(obj, "window", "window", np.array([0.92, 0.92, 0.9], np.float32), wall, s0, sill, ww, wh,
                sky=float(rng.uniform(0.75, 1.0)), bars=int(rng.integers(1, 4)))
        b.wall_spans[wall].append((s0 - 0.3, s0 + ww + 0.3, sill - 0.05))
        style = rng.random()
        if style < 0.4:
            drop = float(rng.uniform(0.3, 1.0)) * wh
            b.decal(b.new_obj(), "blinds", "blinds", _color(rng, [(0.9, 0.9, 0.88), (0.75, 0.7, 0.6)]), wall, s0,
                    sill + wh - drop, ww, drop)
        elif style < 0.8:
            _curtains(b, wall, s0, ww, sill, wh)
    # pictures, whiteboards, mirrors
    for _ in range(int(rng.integers(1, 4))):
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
            continue
        s0 = float(rng.uniform(0.1, length - pw - 0.1))
        if not b.wall_free(wall, s0, s0 + pw, height):
            continue
        b.decal(b.new_obj(), label, label, _color(rng, _FABRIC_COLORS + _WOOD_COLORS), wall, s0, z0, pw, ph,
                seed=int(rng.integers(1 << 30)))
        b.wall_spans[wall].append((s0, s0 + pw, z0))


def _curtains(b: _Builder, wall: int, s0: float, ww: float, sill: float, wh: float) -> None:
    rng = b.rng
    w_room, d_room, h_room = (float(v) for v in b.size)
    color = _color(rng, _FABRIC_COLORS)
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


# -- rooms -------------------------------------------------------------------------------------------
_ROOM_SIZES = {  # (W range, D range): W across the view, D along it
    "bedroom": ((3.0, 4.6), (3.4, 6.0)),
    "living_room": ((3.6, 6.0), (4.5, 10.0)),
    "office": ((3.2, 6.5), (4.0, 10.3)),
    "kitchen": ((2.6, 4.5), (3.2, 7.0)),
}


def _furnish(b: _Builder) -> None:
    rng, kind = b.rng, b.room_type
    if kind == "bedroom":
        _bed(b)
        if rng.random() < 0.7:
            _cabinet(b, "dresser", (0.9, 1.5), (0.42, 0.55), (0.75, 1.0), front="drawers")
        if rng.random() < 0.6:
            _cabinet(b, "cabinet", (0.8, 1.4), (0.55, 0.62), (1.8, 2.2), front="doors")
        if rng.random() < 0.5:
            _desk(b)
        if rng.random() < 0.4:
            _rug(b)
        _small_items(b, ["box", "bag", "plant"], int(rng.integers(0, 3)))
    elif kind == "living_room":
        sofa = _sofa(b)
        if sofa is not None:
            cx, cy, yaw, w, d = sofa
            fx, fy = -math.sin(yaw), math.cos(yaw)
            dist = d / 2 + float(rng.uniform(0.6, 0.9))
            if rng.random() < 0.6:
                _rug(b, (cx + fx * dist, cy + fy * dist))
            region = (cx + fx * dist - 0.2, cy + fy * dist - 0.2, cx + fx * dist + 0.2, cy + fy * dist + 0.2)
            _table(b, coffee=True, region=region)
        if rng.random() < 0.4:
            _sofa(b)
        if rng.random() < 0.8:
            _tv_stand(b)
        for _ in range(int(rng.integers(0, 3))):
            _bookshelf(b)
        if rng.random() < 0.5:
            _floor_lamp(b)
        if rng.random() < 0.4:
            _table(b, chairs=int(rng.integers(2, 5)))
        if rng.random() < 0.3:
            w = float(rng.uniform(0.5, 0.8))
            spot = b.place_free(w, w)
            if spot is not None:
                b.box(b.new_obj(), "ottoman", "fabric", _color(rng, _FABRIC_COLORS), (spot[0], spot[1], 0.21),
                      (w / 2, w / 2, 0.21), spot[2])
                b.occupy(spot[0], spot[1], w, w, spot[2])
        _small_items(b, ["plant", "box"], int(rng.integers(0, 3)))
    elif kind == "office":
        for _ in range(int(rng.integers(1, 4))):
            _desk(b)
        for _ in range(int(rng.integers(0, 3))):
            if rng.random() < 0.5:
                _bookshelf(b, "shelves" if rng.random() < 0.4 else "bookshelf")
            else:
                _cabinet(b, "cabinet", (0.45, 1.0), (0.45, 0.6), (0.7, 1.4), front="drawers")
        if rng.random() < 0.4:
            _table(b, chairs=int(rng.integers(2, 5)))
        for _ in range(int(rng.integers(0, 3))):
            _chair(b)
        _small_items(b, ["box", "box", "plant", "bag"], int(rng.integers(1, 4)))
    else:  # kitchen
        _counter_run(b)
        if rng.random() < 0.8:
            _fridge(b)
        if rng.random() < 0.6:
            _table(b, chairs=int(rng.integers(1, 5)))
        _small_items(b, ["box", "plant"], int(rng.integers(0, 2)))


def _room_surfaces(rng: np.random.Generator, kind: str) -> list[_Surface]:
    wall_color = _color(rng, _WALL_COLORS, 0.05)
    wall_mat = "stripes" if kind in ("bedroom", "living_room") and rng.random() < 0.25 else "paint"
    wall_p = dict(baseboard=float(rng.uniform(0.07, 0.12)), bb_color=_color(rng, [(0.95, 0.95, 0.93), (0.4, 0.3, 0.2)]),
                  period=float(rng.uniform(0.12, 0.3)))
    floor_kind = {
        "bedroom": ["planks", "planks", "carpet_tiles", "tiles"],
        "living_room": ["planks", "planks", "tiles", "carpet_tiles"],
        "office": ["carpet_tiles", "carpet_tiles", "tiles", "planks"],
        "kitchen": ["tiles", "tiles", "checker", "planks"],
    }[kind]
    floor_mat = floor_kind[int(rng.integers(len(floor_kind)))]
    if floor_mat == "planks":
        floor_color = _color(rng, _WOOD_COLORS)
        fp = dict(width=float(rng.uniform(0.1, 0.2)), length=float(rng.uniform(0.9, 1.8)), axis=int(rng.integers(2)))
    elif floor_mat == "carpet_tiles":
        floor_color = _color(rng, _CARPET_COLORS)
        fp = dict(size=0.5)
    else:
        floor_color = _color(rng, _FLOOR_TILE_COLORS)
        fp = dict(size=float(rng.choice([0.3, 0.4, 0.45, 0.6])), grout=_color(rng, [(0.45, 0.43, 0.4), (0.9, 0.9, 0.88)]),
                  second=_color(rng, _FLOOR_TILE_COLORS + [(0.15, 0.15, 0.15)]))
    ceil_mat = "ceiling_tiles" if kind == "office" or rng.random() < 0.15 else "ceiling"
    ceil_color = _color(rng, [(0.92, 0.92, 0.9), (0.88, 0.86, 0.82)], 0.03)
    out = []
    for k in range(4):
        out.append(_Surface("room", "wall", 1000 + k, wall_mat, wall_color, wall=k, p=wall_p))
    out.append(_Surface("room", "floor", 1004, floor_mat, floor_color, wall=4, p=fp))
    out.append(_Surface("room", "ceiling", 1005, ceil_mat, ceil_color, wall=5, p=dict(size=0.6)))
    return out


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation: camera (x right, y down, z forward), world (x, y horizontal, z up)."""
    base = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float64)  # looking along +y, level
    cy, sy = math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    cp, sp = math.cos(pitch), math.sin(pitch)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # positive pitch looks up (camera y is down)
    cr, sr = math.cos(roll), math.sin(roll)
    rr = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ base @ rx @ rr


def _build_scene(rng: np.random.Generator) -> _Scene:
    kind = ROOM_TYPES[int(rng.integers(len(ROOM_TYPES)))]
    (w0, w1), (d0, d1) = _ROOM_SIZES[kind]
    # room length skewed towards the small end (most rooms are small), up to ~10 m in living rooms/offices
    size = np.array([rng.uniform(w0, w1), d0 + (d1 - d0) * rng.random() ** 1.3, rng.uniform(2.45, 2.95)])
    w, d, h = (float(v) for v in size)
    cam = np.array([rng.uniform(0.5, w - 0.5), rng.uniform(0.35, max(0.6, 0.25 * d)),
                    float(np.clip(rng.normal(1.4, 0.18), 1.0, 1.8))])
    target = np.array([rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.6 * d, d)])
    yaw = math.atan2(-(target[0] - cam[0]), target[1] - cam[1]) + float(rng.normal(0, 0.08))
    pitch = math.radians(float(np.clip(rng.normal(-7.0, 4.0), -16.0, 4.0)))
    roll = math.radians(float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0)))
    surfaces = _room_surfaces(rng, kind)
    b = _Builder(rng, kind, size, cam[:2])
    b.surfaces = surfaces
    _wall_objects(b)
    _furnish(b)
    lights = [(np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * d, h - 0.3]), float(rng.uniform(1.4, 1.9)))]
    if d > 5.5 or rng.random() < 0.3:
        lights.append((np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.6, 0.9) * d, h - 0.3]),
                       float(rng.uniform(0.8, 1.4))))
    return _Scene(kind, size.astype(np.float32), b.surfaces, lights, float(rng.uniform(0.2, 0.3)), b.footprints,
                  cam, _rotation(yaw, pitch, roll), float(rng.uniform(0.92, 1.08)),
                  rng.uniform(0.95, 1.05, 3).astype(np.float32))


# ------------------------------------------------------------------------------------------------
# Ray casting
# ------------------------------------------------------------------------------------------------
def intrinsics(height: int = NYU_HEIGHT, width: int = NYU_WIDTH) -> tuple[float, float, float, float]:
    """NYU Kinect RGB intrinsics (fx, fy, cx, cy) scaled to an image of ``height`` x ``width``."""
    fx, fy, cx, cy = NYU_INTRINSICS
    sx, sy = width / NYU_WIDTH, height / NYU_HEIGHT
    return fx * sx, fy * sy, cx * sx, cy * sy


@dataclass
class _Hits:
    t: np.ndarray  # (H, W) float32 camera z depth
    sid: np.ndarray  # (H, W) int16 surface index
    face: np.ndarray  # (H, W) int8: axis * 2 + (normal points to +axis); cylinders: 0 side, 5 top, 4 bottom
    dirs: tuple[np.ndarray, np.ndarray, np.ndarray]  # world ray directions with unit camera z


def _bbox(scene: _Scene, corners: np.ndarray, k: tuple[float, float, float, float], hw: tuple[int, int]
          ) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (v0, v1, u0, u1) covering world points ``corners`` (N, 3); None if all behind the camera."""
    cam = (corners - scene.cam_pos) @ scene.cam_rot  # world -> camera
    z = cam[:, 2]
    if np.all(z <= 0.02):
        return None
    h, w = hw
    if np.any(z <= 0.02):
        return 0, h, 0, w
    fx, fy, cx, cy = k
    u, v = fx * cam[:, 0] / z + cx, fy * cam[:, 1] / z + cy
    u0, u1 = max(int(math.floor(u.min())) - 1, 0), min(int(math.ceil(u.max())) + 2, w)
    v0, v1 = max(int(math.floor(v.min())) - 1, 0), min(int(math.ceil(v.max())) + 2, h)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _box_corners(s: _Surface) -> np.ndarray:
    hx, hy, hz = (float(v) for v in s.half)
    c, sn = math.cos(s.yaw), math.sin(s.yaw)
    pts = []
    for ax in (-hx, hx):
        for ay in (-hy, hy):
            for az in (-hz, hz):
                pts.append((s.center[0] + c * ax - sn * ay, s.center[1] + sn * ax + c * ay, s.center[2] + az))
    return np.asarray(pts)


def _cast(scene: _Scene, height: int, width: int) -> _Hits:
    k = intrinsics(height, width)
    fx, fy, cx, cy = k
    u = ((np.arange(width, dtype=np.float32) - cx) / fx)[None, :]
    v = ((np.arange(height, dtype=np.float32) - cy) / fy)[:, None]
    r = scene.cam_rot.astype(np.float32)
    dx = r[0, 0] * u + r[0, 1] * v + r[0, 2]
    dy = r[1, 0] * u + r[1, 1] * v + r[1, 2]
    dz = r[2, 0] * u + r[2, 1] * v + r[2, 2]
    dx, dy, dz = (np.broadcast_to(a, (height, width)).astype(np.float32) for a in (dx, dy, dz))
    for d in (dx, dy, dz):  # no exact zeros: every slab division below is then finite or +-inf by sign
        d[d == 0] = _F(1e-12)
    o = scene.cam_pos.astype(np.float32)
    # room: the exit of the ray from [0, W] x [0, D] x [0, H] (the camera is inside)
    with np.errstate(divide="ignore", invalid="ignore"):
        tx, ty, tz = ((np.where(d > 0, np.float32(scene.size[a]), np.float32(0)) - o[a]) / d
                      for a, d in enumerate((dx, dy, dz)))
    t = np.minimum(np.minimum(tx, ty), tz)
    axis = np.where((tx <= ty) & (tx <= tz), 0, np.where(ty <= tz, 1, 2))
    pos = np.where(axis == 0, dx > 0, np.where(axis == 1, dy > 0, dz > 0))  # positive: the far side of the slab
    sid = (axis * 2 + pos).astype(np.int16)  # 0/1 walls x=0/W, 2/3 walls y=0/D, 4 floor, 5 ceiling
    face = np.zeros((height, width), np.int8)
    for i, s in enumerate(scene.surfaces):
        if s.kind == "box":
            corners = _box_corners(s)
        elif s.kind == "cyl":
            rr, hh = float(s.half[0]), float(s.half[2])
            corners = np.array([(s.center[0] + ax, s.center[1] + ay, s.center[2] + az)
                                for ax in (-rr, rr) for ay in (-rr, rr) for az in (0.0, hh)])
        else:
            continue
        box = _bbox(scene, corners, k, (height, width))
        if box is None:
            continue
        v0, v1, u0, u1 = box
        win = (slice(v0, v1), slice(u0, u1))
        if s.kind == "box":
            _hit_box(s, o, dx[win], dy[win], dz[win], t[win], sid[win], face[win], i)
        else:
            _hit_cyl(s, o, dx[win], dy[win], dz[win], t[win], sid[win], face[win], i)
    return _Hits(t, sid, face, (dx, dy, dz))


def _hit_box(s: _Surface, o: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, t: np.ndarray,
             sid: np.ndarray, face: np.ndarray, index: int) -> None:
    """Slab test of an oriented box against the rays of one window; updates t/sid/face in place."""
    c, sn = np.float32(math.cos(s.yaw)), np.float32(math.sin(s.yaw))
    ox, oy, oz = (float(v) for v in (o - s.center))
    lo = (float(c * ox + sn * oy), float(c * oy - sn * ox), oz)
    ld = (c * dx + sn * dy, c * dy - sn * dx, dz)
    tn = tf = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for d, o_a, h in zip(ld, lo, (float(x) for x in s.half)):
            inv = np.float32(1.0) / d
            t1 = (-h - o_a) * inv
            t2 = (h - o_a) * inv
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            tn = near if tn is None else np.maximum(tn, near, out=tn)
            tf = far if tf is None else np.minimum(tf, far, out=tf)
    hit = (tn <= tf) & (tn > 1e-3) & (tn < t)
    rows, cols = np.nonzero(hit)
    if rows.size == 0:
        return
    # which slab was entered last gives the face; its normal opposes the ray along that axis. The entry
    # distances are recomputed for the hit pixels with exactly the same float32 operations, so the equality
    # test below is exact.
    dl = [a[rows, cols] for a in ld]
    enter = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for d, o_a, h in zip(dl, lo, (float(x) for x in s.half)):
            inv = np.float32(1.0) / d
            enter.append(np.minimum((-h - o_a) * inv, (h - o_a) * inv))
    th = np.maximum(np.maximum(enter[0], enter[1]), enter[2])
    axis = np.where(enter[0] == th, 0, np.where(enter[1] == th, 1, 2))
    dsel = np.where(axis == 0, dl[0], np.where(axis == 1, dl[1], dl[2]))
    t[rows, cols] = th
    sid[rows, cols] = index
    face[rows, cols] = (axis * 2 + (dsel < 0)).astype(np.int8)


def _hit_cyl(s: _Surface, o: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, t: np.ndarray,
             sid: np.ndarray, face: np.ndarray, index: int) -> None:
    """Ray against a vertical cylinder (side, top and bottom caps); updates t/sid/face in place."""
    r, hh = float(s.half[0]), float(s.half[2])
    ox, oy, oz = (float(v) for v in (o - s.center))
    a = dx * dx + dy * dy
    bq = 2 * (ox * dx + oy * dy)
    cq = ox * ox + oy * oy - r * r
    disc = bq * bq - 4 * a * cq
    ok = disc >= 0
    sq = np.sqrt(np.where(ok, disc, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = (-bq - sq) / (2 * np.maximum(a, 1e-9))
        zs = oz + ts * dz
        side = ok & (ts > 1e-3) & (zs >= 0) & (zs <= hh)
        best = np.where(side, ts, np.inf).astype(np.float32)
        code = np.zeros(best.shape, np.int8)
        for zc, cc in ((hh, 5), (0.0, 4)):
            tc = (zc - oz) / np.where(np.abs(dz) < 1e-9, 1e-9, dz)
            xc, yc = ox + tc * dx, oy + tc * dy
            cap = (tc > 1e-3) & (xc * xc + yc * yc <= r * r) & (tc < best)
            best = np.where(cap, tc, best).astype(np.float32)
            code = np.where(cap, np.int8(cc), code)
    hit = best < t
    if hit.any():
        t[hit] = best[hit]
        sid[hit] = index
        face[hit] = code[hit]


# ------------------------------------------------------------------------------------------------
# Shading
# ------------------------------------------------------------------------------------------------
def _hash01(*ints: np.ndarray) -> np.ndarray:
    """A float32 in [0, 1) per element, a deterministic hash of the integer arrays (wrapping uint32 arithmetic)."""
    x = np.full(np.shape(ints[0]), 0x9E3779B9, np.uint32)
    for k, a in enumerate(ints):
        x ^= (np.asarray(a).astype(np.int64).astype(np.uint32) + np.uint32(0x7F4A7C15 * (k + 1) & 0xFFFFFFFF))
        x *= np.uint32(0x85EBCA6B)
        x ^= x >> np.uint32(13)
        x *= np.uint32(0xC2B2AE35)
        x ^= x >> np.uint32(16)
    return (x >> np.uint32(8)).astype(np.float32) / np.float32(1 << 24)


def _sample(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup in a wrapping noise texture; ``u``, ``v`` in texels."""
    m = _TEX - 1
    return tex[np.floor(v).astype(np.int32) & m, np.floor(u).astype(np.int32) & m]


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _surface_frame(s: _Surface, px: np.ndarray, py: np.ndarray, pz: np.ndarray, face: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, tuple, np.ndarray]:
    """Texture coordinates (u, v) in metres, the world normal (3 arrays or scalars) and a front-face mask."""
    n = px.shape[0]
    if s.kind == "room" or s.kind == "decal":
        k = s.wall
        normal = tuple(_F(x) for x in _ROOM_NORMALS[k])
        if k in (0, 1):
            u, v = py, pz
        elif k in (2, 3):
            u, v = px, pz
        else:
            u, v = px, py
        if s.kind == "decal":
            u, v = u - _F(s.rect[0]), v - _F(s.rect[1])
        return u, v, normal, np.ones(n, bool)
    c, sn = _F(math.cos(s.yaw)), _F(math.sin(s.yaw))
    rx, ry, rz = px - _F(s.center[0]), py - _F(s.center[1]), pz - _F(s.center[2])
    if s.kind == "cyl":
        top = face >= 4
        r = _F(max(float(s.half[0]), 1e-6))
        u = np.where(top, rx, np.arctan2(ry, rx) * r)
        v = np.where(top, ry, rz)
        zero = _F(0)
        normal = (np.where(top, zero, rx / r), np.where(top, zero, ry / r),
                  np.where(face == 5, _F(1), np.where(face == 4, _F(-1), zero)))
        return u, v, normal, ~top
    lx = c * rx + sn * ry + s.half[0]
    ly = c * ry - sn * rx + s.half[1]
    lz = rz + s.half[2]
    axis = face // 2
    u = np.where(axis == 1, lx, np.where(axis == 0, ly, lx))
    v = np.where(axis == 2, ly, lz)
    sign = np.where(face % 2 == 1, _F(1), _F(-1))
    nlx = np.where(axis == 0, sign, _F(0))
    nly = np.where(axis == 1, sign, _F(0))
    nlz = np.where(axis == 2, sign, _F(0))
    return u, v, (c * nlx - sn * nly, sn * nlx + c * nly, nlz), face == 3


def _rgb(color: Sequence[float] | np.ndarray) -> np.ndarray:
    """A colour as a (3, 1) float32 column (albedo arrays are channel-first: (3, n))."""
    return np.asarray(color, np.float32).reshape(3, 1)


def _albedo(s: _Surface, u: np.ndarray, v: np.ndarray, front: np.ndarray, face: np.ndarray,
            fine: np.ndarray, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Albedo (3, n) and emission (n,) or None of surface ``s`` at texture coordinates ``u``, ``v`` (metres)."""
    n = u.shape[0]
    col: np.ndarray = _rgb(s.color)
    gain: np.ndarray | float = 1.0
    emit: np.ndarray | None = None
    m, p = s.material, s.p
    if m in ("paint", "stripes"):
        gain = 1 + 0.04 * _sample(coarse, u / 0.1, v / 0.1) + 0.02 * _sample(fine, u / 0.01, v / 0.01)
        if m == "stripes":
            gain = gain * np.where(_frac(u / p["period"]) < 0.5, _F(1), _F(0.86))
        base = v < p["baseboard"]
        col = np.where(base, _rgb(p["bb_color"]), col)
        gain = np.where(base, np.where(v < p["baseboard"] - 0.012, _F(1), _F(0.75)), gain)
    elif m == "planks":
        along, across = (u, v) if p["axis"] == 0 else (v, u)
        row = np.floor(across / p["width"])
        shifted = along / p["length"] + _hash01(row)
        plank = np.floor(shifted)
        seam = (_frac(across / p["width"]) < 0.006 / p["width"]) | (_frac(shifted) < 0.006 / p["length"])
        gain = (0.82 + 0.36 * _hash01(row, plank)) * (1 + 0.08 * _sample(fine, along / 0.12, across / 0.004))
        gain = np.where(seam, _F(0.45), gain)
    elif m in ("tiles", "checker", "carpet_tiles", "ceiling_tiles"):
        size = p["size"]
        i, j = np.floor(u / size), np.floor(v / size)
        if m == "carpet_tiles":
            gain = (0.88 + 0.24 * _hash01(i, j)) * (1 + 0.12 * _sample(fine, u / 0.006, v / 0.006))
            gain = gain * np.where((i + j) % 2 == 0, _F(1), _F(0.93))  # alternating pile direction
        elif m == "ceiling_tiles":
            grid = (_frac(u / size) < 0.025 / size) | (_frac(v / size) < 0.025 / size)
            gain = np.where(grid, _F(0.7), 1 + 0.05 * _sample(fine, u / 0.01, v / 0.01))
        else:
            if m == "checker":
                col = np.where((i + j) % 2 == 0, col, _rgb(p["second"]))
            grout = (_frac(u / size) < 0.008 / size) | (_frac(v / size) < 0.008 / size)
            gain = (0.93 + 0.14 * _hash01(i, j)) * (1 + 0.04 * _sample(coarse, u / 0.05, v / 0.05))
            col = np.where(grout, _rgb(p["grout"]), col)
    elif m == "carpet":
        scale = p.get("fine", 0.01)
        gain = 1 + 0.15 * _sample(fine, u / scale, v / scale)
    elif m == "ceiling":
        gain = 1 + 0.02 * _sample(coarse, u / 0.1, v / 0.1)
    elif m in ("wood", "fabric", "plain", "shade", "leaves"):
        if m == "wood":
            grain = p.get("grain", 0.07)  # streaks along u: slow along the grain, faster across it
            gain = 1 + grain * _sample(fine, u / 0.3, v / 0.012) + 0.02 * _sample(coarse, u / 0.05, v / 0.05)
        elif m == "fabric":
            gain = 1 + 0.07 * _sample(fine, u / 0.005, v / 0.005) + 0.04 * _sample(coarse, u / 0.04, v / 0.04)
        elif m == "leaves":
            gain = np.clip(0.8 + 0.6 * _sample(fine, u / 0.02, v / 0.02), _F(0.2), _F(1.6))
        elif m == "shade":
            emit = np.full(n, 0.35, np.float32)
        else:
            gain = 1 + 0.03 * _sample(fine, u / 0.01, v / 0.01)
        front_kind = p.get("front")
        if front_kind is not None:
            gain = gain * _front_pattern(front_kind, int(p.get("rows", 3)), u, v, front, s)
    elif m == "screen":
        col = np.where(front, _F(0.04), col)
        gain = np.where(front, 1 + 0.5 * v / max(float(s.half[2]) * 2, 1e-3), _F(1))
    elif m == "books":
        book_w = 0.025 + 0.03 * _hash01(np.floor(u / 0.04), np.full(n, p["seed"] % 1000))
        idx = np.floor(u / book_w)
        pick = (_hash01(idx, np.full(n, p["seed"] % 997)) * len(_BOOK_COLORS)).astype(np.int64)
        spine = _BOOK_COLORS.T[:, pick]
        top = v > 2 * float(s.half[2]) * (0.75 + 0.25 * _hash01(idx, np.full(n, 7)))
        col = np.where(front, np.where(top, col * _F(0.4), spine), _F(0.85))
        gain = np.where(front & (_frac(u / book_w) < 0.12), _F(0.6), _F(1))
    elif m in ("picture", "whiteboard", "mirror"):
        w, h = s.rect[2], s.rect[3]
        border = 0.03 if m != "mirror" else 0.02
        inner = (u > border) & (u < w - border) & (v > border) & (v < h - border)
        if m == "picture":
            off = float(p["seed"] % 97)
            img = np.stack([_sample(coarse, u / 0.02 + off, v / 0.02), _sample(coarse, u / 0.02, v / 0.02 + off),
                            _sample(coarse, u / 0.02 + 2 * off, v / 0.02 + off)])
            pic = np.clip(col + 0.25 * img, _F(0.03), _F(0.97))
            col = np.where(inner, pic, _F(0.12))
        elif m == "whiteboard":
            col = np.where(inner, _F(0.93), _F(0.6))[None, :]
        else:
            col = np.where(inner, _rgb([0.55, 0.6, 0.65]), _F(0.3))
            emit = np.where(inner, _F(0.15), _F(0))
    elif m == "window":
        w, h, fb = s.rect[2], s.rect[3], 0.05
        pane = w / (int(p["bars"]) + 1)
        mull = np.abs(_frac(u / pane + 0.5) - 0.5) * pane < 0.025
        glass = (u > fb) & (u < w - fb) & (v > fb) & (v < h - fb) & ~mull & (np.abs(v - h / 2) > 0.02)
        sky = p["sky"] * (0.85 + 0.15 * v / h)
        col = np.where(glass, _F(0), col)
        emit = np.where(glass, sky, _F(0)).astype(np.float32)
    elif m == "blinds":
        gain = np.where(_frac(v / 0.025) < 0.2, _F(0.65), _F(1))
    elif m == "curtain":
        gain = 0.78 + 0.22 * np.sin(u * _F(2 * math.pi / 0.11)) + 0.05 * _sample(fine, u / 0.01, v / 0.01)
    elif m == "door":
        w, h = s.rect[2], s.rect[3]
        trim = (u < 0.06) | (u > w - 0.06) | (v > h - 0.06)
        panel_edge = ((np.abs(u - 0.15) < 0.012) | (np.abs(u - (w - 0.15)) < 0.012)) & (v > 0.2) & (v < h - 0.2)
        handle = (np.abs(u - p["handle"]) < 0.05) & (np.abs(v - 1.0) < 0.025)
        gain = np.where(trim, _F(0.85), np.where(panel_edge, _F(0.7), _F(1)))
        gain = gain * (1 + 0.03 * _sample(fine, u / 0.01, v / 0.01))
        col = np.where(handle, _F(0.6), col)
    out = np.broadcast_to(col, (3, n)) * np.asarray(gain, np.float32)
    return out.astype(np.float32, copy=False), emit


def _front_pattern(kind: str, rows: int, u: np.ndarray, v: np.ndarray, front: np.ndarray, s: _Surface) -> np.ndarray:
    """Drawer/door lines and handles on the front face of a cabinet-like box (gain factor)."""
    w, h = 2 * float(s.half[0]), 2 * float(s.half[2])
    g = np.ones(u.shape[0], np.float32)
    if kind == "drawers":
        pitch = h / rows
        line = _frac(v / pitch) < 0.012 / pitch
        handle = (np.abs(u - w / 2) < 0.06) & (np.abs(_frac(v / pitch) * pitch - pitch * 0.7) < 0.012)
    elif kind == "fridge":
        split = h * 0.68
        line = np.abs(v - split) < 0.008
        handle = (np.abs(u - (w - 0.06)) < 0.012) & (np.abs(v - split) > 0.1) & (np.abs(v - split) < 0.5)
    else:
        pitch = w / max(rows, 1)
        line = (_frac(u / pitch) < 0.008 / pitch) | (v < 0.012) | (v > h - 0.012)
        handle = (np.abs(_frac(u / pitch) * pitch - pitch * 0.85) < 0.01) & (np.abs(v - h * 0.6) < 0.06)
    g = np.where(front & line, 0.55, g)
    return np.where(front & handle, 0.35, g)


def _floor_occlusion(scene: _Scene) -> np.ndarray:
    """Darkening of the floor near the walls and around furniture, rasterised on a plan grid of _FLOOR_CELL."""
    w_room, d_room = float(scene.size[0]), float(scene.size[1])
    nx, ny = int(math.ceil(w_room / _FLOOR_CELL)), int(math.ceil(d_room / _FLOOR_CELL))
    xs = (np.arange(nx, dtype=np.float32) + 0.5) * np.float32(_FLOOR_CELL)
    ys = (np.arange(ny, dtype=np.float32) + 0.5) * np.float32(_FLOOR_CELL)
    edge = np.minimum.outer(np.minimum(ys, d_room - ys), np.minimum(xs, w_room - xs))
    grid = 1 - 0.3 * np.exp(-edge / 0.25)
    reach = 0.6  # metres beyond a footprint where its contact shadow is negligible
    for cx, cy, hx, hy, yaw, strength in scene.footprints:
        x0, y0, x1, y1 = _world_aabb(cx, cy, hx + reach, hy + reach, yaw)
        j0, j1 = max(int(x0 / _FLOOR_CELL), 0), min(int(x1 / _FLOOR_CELL) + 1, nx)
        i0, i1 = max(int(y0 / _FLOOR_CELL), 0), min(int(y1 / _FLOOR_CELL) + 1, ny)
        if j0 >= j1 or i0 >= i1:
            continue
        c, sn = math.cos(yaw), math.sin(yaw)
        rx, ry = xs[None, j0:j1] - cx, ys[i0:i1, None] - cy
        sd = np.maximum(np.maximum(np.abs(c * rx + sn * ry) - hx, np.abs(c * ry - sn * rx) - hy), 0)
        grid[i0:i1, j0:j1] *= 1 - strength * np.exp(-sd / 0.12)
    return grid.astype(np.float32)


def _shade(scene: _Scene, hits: _Hits, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply wall decals to ``hits.sid`` in place; return the linear RGB image (3, H, W) float32 and a mask of
    pixels whose depth a Kinect would not measure (glass, screens, mirrors)."""
    hgt, wid = hits.t.shape
    t = hits.t.ravel()
    dx, dy, dz = (d.ravel() for d in hits.dirs)
    o = scene.cam_pos.astype(np.float32)
    px, py, pz = o[0] + t * dx, o[1] + t * dy, o[2] + t * dz
    sid = hits.sid.ravel()
    face = hits.face.ravel()
    walls = np.flatnonzero(sid < 4)  # room walls, before decals are painted on them
    # decals: repaint the wall pixels inside their rectangles
    decals = [(i, s) for i, s in enumerate(scene.surfaces) if s.kind == "decal"]
    for wall in range(4):
        mine = [(i, s) for i, s in decals if s.wall == wall]
        if not mine:
            continue
        idx = np.flatnonzero(sid == wall)
        su = py[idx] if wall < 2 else px[idx]
        sz = pz[idx]
        for i, s in mine:
            s0, z0, w, h = s.rect
            inside = (su >= s0) & (su <= s0 + w) & (sz >= z0) & (sz <= z0 + h)
            sid[idx[inside]] = i
    fine = ndimage.gaussian_filter(rng.standard_normal((_TEX, _TEX), dtype=np.float32), 0.7, mode="wrap")
    coarse = ndimage.gaussian_filter(rng.standard_normal((_TEX, _TEX), dtype=np.float32), 3.0, mode="wrap")
    fine /= fine.std()
    coarse /= coarse.std()
    n = t.size
    albedo = np.empty((3, n), np.float32)
    nx, ny, nz = (np.empty(n, np.float32) for _ in range(3))
    emit = np.zeros(n, np.float32)
    no_depth = np.zeros(n, bool)
    order = np.argsort(sid, kind="stable")
    counts = np.bincount(sid, minlength=len(scene.surfaces))
    start = 0
    for i, cnt in enumerate(counts):
        if cnt == 0:
            continue
        idx = order[start:start + cnt]
        start += cnt
        s = scene.surfaces[i]
        fc = face[idx]
        u, v, nrm, front = _surface_frame(s, px[idx], py[idx], pz[idx], fc)
        a, e = _albedo(s, u, v, front, fc, fine, coarse)
        albedo[:, idx] = a
        nx[idx], ny[idx], nz[idx] = nrm
        if e is not None:
            emit[idx] = e
        if s.material in ("window", "mirror") and e is not None:
            no_depth[idx] = e > 0
        elif s.material == "screen":
            no_depth[idx] = front
    # ambient occlusion near the room's edges and contact shadows around furniture on the floor
    w_room, d_room, h_room = (float(x) for x in scene.size)
    occl = np.ones(n, np.float32)
    fl = np.flatnonzero(sid == 4)
    grid = _floor_occlusion(scene)
    gi = np.clip((py[fl] / _FLOOR_CELL).astype(np.int32), 0, grid.shape[0] - 1)
    gj = np.clip((px[fl] / _FLOOR_CELL).astype(np.int32), 0, grid.shape[1] - 1)
    occl[fl] = grid[gi, gj]
    wx, wy, wz = px[walls], py[walls], pz[walls]
    wo = 1 - 0.25 * np.exp(-wz / 0.2) - 0.2 * np.exp(-(h_room - wz) / 0.2)
    ws = np.minimum(np.minimum(wx, w_room - wx), np.minimum(wy, d_room - wy))
    occl[walls] = wo * (1 - 0.2 * np.exp(-ws / 0.2))
    # lighting: ambient (a little more from above) + point lights with distance fall-off, Lambertian
    light = (scene.ambient * (0.85 + 0.15 * nz)) * occl
    soft = 0.5 + 0.5 * occl
    for pos, power in scene.lights:
        lx, ly, lz = float(pos[0]) - px, float(pos[1]) - py, float(pos[2]) - pz
        dist2 = lx * lx + ly * ly + lz * lz
        lam = np.maximum(nx * lx + ny * ly + nz * lz, 0) / np.sqrt(dist2)
        light += (power * lam / (1 + dist2 / 3.0)) * soft
    fade = np.exp(t * _F(-0.035)) * _F(scene.exposure)  # mild darkening with distance
    light *= fade
    emit *= fade
    rgb = albedo * light
    rgb += emit
    rgb *= scene.tint[:, None]
    return rgb.reshape(3, hgt, wid), no_depth.reshape(hgt, wid)


# ------------------------------------------------------------------------------------------------
# Kinect-like raw depth
# ------------------------------------------------------------------------------------------------
def _raw_depth(depth: np.ndarray, no_depth: np.ndarray, fx: float, rng: np.random.Generator) -> np.ndarray:
    """Kinect-like raw depth: disparity quantisation and noise, 0 where nothing would be measured."""
    h, w = depth.shape
    bf = np.float32(KINECT_BASELINE * fx)
    disp = bf / depth  # pixels
    raw = bf / (np.rint(disp * 8 + rng.standard_normal((h, w), dtype=np.float32) * np.float32(0.3)) / 8)
    rnd = rng.random((h, w), dtype=np.float32)
    holes = (depth > KINECT_MAX_RANGE) | (depth < KINECT_MIN_RANGE)
    # shadow bands: the background just left of a near object's left edge is not lit by the projector
    jump = disp[:, 1:] - disp[:, :-1]
    rows, cols = np.nonzero(jump > 0.5)
    if rows.size:
        widths = np.ceil(jump[rows, cols]).astype(np.int64)
        cols = cols + 1
        marks = np.zeros((h, w + 1), np.int16)
        np.add.at(marks, (rows, np.maximum(cols - widths, 0)), 1)
        np.add.at(marks, (rows, cols), -1)
        holes |= np.cumsum(marks, axis=1, dtype=np.int16)[:, :w] > 0
    # thin dropouts on both sides of every depth discontinuity
    edge = np.zeros((h, w), bool)
    e = np.abs(depth[:, 1:] - depth[:, :-1]) > 0.04 * depth[:, 1:]
    edge[:, 1:] |= e
    edge[:, :-1] |= e
    e = np.abs(depth[1:, :] - depth[:-1, :]) > 0.04 * depth[1:, :]
    edge[1:, :] |= e
    edge[:-1, :] |= e
    holes |= edge & (rnd < 0.7)
    # glass, screens and mirrors: mostly missing
    holes |= no_depth & (rnd < 0.9)
    # specular / dark blobs: a smooth random field thresholded to cover a few percent (4-pixel cells)
    hc, wc = -(-h // 4), -(-w // 4)
    field = ndimage.zoom(rng.random((hc // 8 + 2, wc // 8 + 2), dtype=np.float32), 8, order=1)[:hc, :wc]
    blobs = field > 1 - float(rng.uniform(0.01, 0.07))
    holes |= np.repeat(np.repeat(blobs, 4, 0), 4, 1)[:h, :w]
    # speckle and a thin invalid border
    holes |= rnd > 1 - float(rng.uniform(0.01, 0.04))
    bt, bb, bl, br = (int(x) for x in rng.integers(0, max(2, h // 48), 4))
    holes[:bt], holes[h - bb:], holes[:, :bl], holes[:, w - br:] = True, True, True, True
    raw[holes] = 0
    return _quantise(raw, 10)


def _quantise(x: np.ndarray, bits: int) -> np.ndarray:
    """Round to multiples of 2**-bits (exact in float32, so the stored file compresses far better)."""
    scale = np.float32(1 << bits)
    return (np.rint(x * scale) / scale).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Frames
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame in image orientation."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, dense, in (0, 10]
    raw_depth: np.ndarray  # (H, W) float32 metres, 0 = no measurement
    label: np.ndarray  # (H, W) uint16 NYU ids
    instance: np.ndarray  # (H, W) uint8, per label from 1
    scene: str  # e.g. synthetic_bedroom_0003
    room_type: str


def render_frame(seed: int, index: int, label_ids: Mapping[str, int], height: int = NYU_HEIGHT,
                 width: int = NYU_WIDTH) -> SyntheticFrame:
    """Render frame ``index`` of the synthetic set ``seed``; depends on ``(seed, index)`` only.

    ``label_ids`` maps the names in :data:`LABEL_CLASSES` to NYU ids (from :func:`label_ids`).
    """
    if height < 8 or width < 8:
        raise DepthpipeError(f"synthetic: image size {height}x{width} is too small")
    rng = np.random.default_rng([int(seed), int(index)])
    scene = _build_scene(rng)
    hits = _cast(scene, height, width)
    missing = [s.label for s in scene.surfaces if s.label not in label_ids]
    if missing:
        raise DepthpipeError(f"synthetic: no NYU id given for label '{missing[0]}'")
    label_of = np.array([label_ids[s.label] for s in scene.surfaces], np.uint16)
    # instances: per label, numbered from 1 in the order objects were created
    inst_of = np.zeros(len(scene.surfaces), np.uint8)
    seen: dict[tuple[str, int], int] = {}
    per_label: dict[str, int] = {}
    for i, s in enumerate(scene.surfaces):
        key = (s.label, s.obj)
        if key not in seen:
            per_label[s.label] = per_label.get(s.label, 0) + 1
            seen[key] = min(per_label[s.label], 255)
        inst_of[i] = seen[key]
    rgb_lin, no_depth = _shade(scene, hits, rng)
    sid = hits.sid
    depth = np.clip(_quantise(hits.t, 12), np.float32(2.0**-12), np.float32(MAX_DEPTH))
    raw = _raw_depth(depth, no_depth, intrinsics(height, width)[0], rng)
    # display gamma 2 (a square root), then slight uniform sensor noise (standard deviation 2 levels)
    rgb = np.empty((height, width, 3), np.uint8)
    amp = _F(2 * math.sqrt(3) * 2.0)
    for ch in range(3):
        noise = rng.random((height, width), dtype=np.float32)
        noise -= _F(0.5)
        noise *= amp
        noise += np.sqrt(np.clip(rgb_lin[ch], _F(0), _F(1))) * _F(255) + _F(0.5)
        rgb[:, :, ch] = np.clip(noise, _F(0), _F(255))
    return SyntheticFrame(rgb=rgb, depth=depth, raw_depth=raw, label=label_of[sid], instance=inst_of[sid],
                          scene=f"synthetic_{scene.room_type}_{int(index):04d}", room_type=scene.room_type)


def split_indices(frames: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """0-based (train, test) indices: a shuffle by ``seed``; test = round(frames * test_fraction), at least 1 each."""
    n_test = int(math.floor(frames * test_fraction + 0.5))
    n_test = min(max(n_test, 1), frames - 1)
    perm = np.random.default_rng(int(seed)).permutation(frames)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _render_job(args: tuple[int, int, dict[str, int], int, int]) -> SyntheticFrame:
    seed, index, ids, height, width = args
    return render_frame(seed, index, ids, height, width)


def _frames(jobs: Sequence[tuple], workers: int) -> Iterator[SyntheticFrame]:
    if workers <= 1:
        for job in jobs:
            yield _render_job(job)
        return
    ctx = mp.get_context("spawn")  # no fork of an open HDF5 handle; same results as serial
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render_job, jobs, chunksize=1)


def write_synthetic(path: str | os.PathLike[str], splits_path: str | os.PathLike[str], frames: int, seed: int,
                    test_fraction: float, class_mapping: str | os.PathLike[str], workers: int = 1,
                    height: int = NYU_HEIGHT, width: int = NYU_WIDTH, progress: bool = True) -> dict:
    """Write ``frames`` synthetic frames as a NYU-layout labeled ``.mat`` at ``path`` and a split at ``splits_path``.

    The ``names`` cell holds the 894 names of ``classMapping40.mat`` (label id ``k`` is ``names[k-1]``). Both files
    are written under temporary names and renamed when complete; the same arguments give byte-identical files
    whatever ``workers`` is. With ``workers > 1`` the frames are rendered by a pool of ``spawn``-started
    processes (in order, written by this process), so a calling script needs the usual
    ``if __name__ == "__main__":`` guard. Returns a summary (frames, seed, split sizes, image size, frames per
    room type).
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise DepthpipeError(f"synthetic: frames must be an integer >= 2 (got {frames!r})")
    if not 0 < float(test_fraction) < 1:
        raise DepthpipeError(f"synthetic: test_fraction must lie in (0, 1) (got {test_fraction!r})")
    ids = label_ids(class_mapping)
    _, _, names894 = load_class_mapping(class_mapping)
    train, test = split_indices(frames, seed, test_fraction)
    rooms: dict[str, int] = {}
    jobs = [(int(seed), i, ids, int(height), int(width)) for i in range(frames)]
    with atomic_path(path) as tmp:
        with NYULabeledWriter(tmp, frames, names894, height=height, width=width) as writer:
            bar = tqdm(_frames(jobs, max(1, int(workers))), total=frames, desc="synthetic frames", unit="frame",
                       disable=not progress)
            for i, fr in enumerate(bar):
                writer.write(i, fr.rgb, fr.depth, fr.label, raw_depth=fr.raw_depth, instance=fr.instance,
                             scene=fr.scene)
                rooms[fr.room_type] = rooms.get(fr.room_type, 0) + 1
    write_splits(splits_path, train, test)
    return {"frames": frames, "seed": int(seed), "test_fraction": float(test_fraction), "train": int(train.size),
            "test": int(test.size), "height": int(height), "width": int(width),
            "room_types": dict(sorted(rooms.items()))}


# ------------------------------------------------------------------------------------------------
# Figure
# ------------------------------------------------------------------------------------------------
def render_examples(path: str | os.PathLike[str], class_mapping: str | os.PathLike[str], n: int = 4, seed: int = 0,
                    first: int = 0) -> Path:
    """Save a figure of ``n`` frames (rows of RGB | depth | 40-class labels) as a PNG at ``path``."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    ids = label_ids(class_mapping)
    lut, names40, _ = load_class_mapping(class_mapping)
    palette = np.vstack([[0, 0, 0], colormaps["tab20"].colors, colormaps["tab20b"].colors])[: len(names40) + 1]
    fig = Figure(figsize=(12, 3.1 * n), dpi=80, layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    for r in range(n):
        fr = render_frame(seed, first + r, ids)
        axes[r, 0].imshow(fr.rgb)
        axes[r, 0].set_title(f"{fr.scene}: RGB", fontsize=9)
        im = axes[r, 1].imshow(fr.depth, cmap="turbo", vmin=0, vmax=MAX_DEPTH)
        axes[r, 1].set_title(f"depth (m), {fr.depth.min():.2f}-{fr.depth.max():.2f}", fontsize=9)
        fig.colorbar(im, ax=axes[r, 1], fraction=0.035)
        lab40 = lut[fr.label]
        axes[r, 2].imshow(lab40, cmap=ListedColormap(palette), vmin=-0.5, vmax=len(names40) + 0.5,
                          interpolation="nearest")
        present = [names40[c - 1] for c in np.unique(lab40) if c > 0]
        axes[r, 2].set_title("labels: " + ", ".join(present[:7]) + ("..." if len(present) > 7 else ""), fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
