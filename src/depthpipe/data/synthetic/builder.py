"""Placing objects in a room without overlaps, and recording the surfaces they are made of."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from depthpipe.data.synthetic.scene import Surface, world_aabb, world_xy

_WALL_YAW = (-math.pi / 2, math.pi / 2, 0.0, math.pi)  # yaw that turns an object's front (+y) into the room


class Builder:
    """Places furniture in a room without overlaps and records the surfaces it is made of.

    Objects are built in an object frame (cx, cy, yaw): x across the object, y from its back (-y) to its
    front (+y), z up from the floor. Wall numbers are the room's face numbers 0-3 (see
    :mod:`depthpipe.data.synthetic.scene`); a position ``s`` along a wall runs along its other plan axis.
    """

    def __init__(self, rng: np.random.Generator, room_type: str, size: np.ndarray, cam_xy: np.ndarray) -> None:
        self.rng, self.room_type, self.size, self.cam_xy = rng, room_type, size, cam_xy
        self.surfaces: list[Surface] = []
        self.footprints: list[tuple[float, float, float, float, float, float]] = []
        self.boxes2d: list[tuple[float, float, float, float]] = []  # occupied floor rectangles (world AABBs)
        self.wall_spans: list[list[tuple[float, float, float]]] = [[], [], [], []]  # (s0, s1, z_bottom) per wall
        self.nobj = 0

    # -- bookkeeping ---------------------------------------------------------------------------
    def new_obj(self) -> int:
        """A new object number (surfaces of one object share an instance id)."""
        self.nobj += 1
        return self.nobj

    def wall_length(self, wall: int) -> float:
        """Length of ``wall`` (0-3) in metres."""
        return float(self.size[1] if wall < 2 else self.size[0])

    def free_floor(
        self, rect: tuple[float, float, float, float], margin: float = 0.04, cam_clear: float = 0.75
    ) -> bool:
        """Whether the plan rectangle ``rect`` (x0, y0, x1, y1) lies inside the room, at least ``cam_clear`` from
        the camera and ``margin`` from every occupied rectangle."""
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
    def box(
        self,
        obj: int,
        label: str,
        material: str,
        color: np.ndarray,
        center: Sequence[float],
        half: Sequence[float],
        yaw: float = 0.0,
        **p: object,
    ) -> None:
        """Record a box of half sizes ``half`` centred at ``center`` (world), turned by ``yaw`` about z."""
        self.surfaces.append(
            Surface(
                "box",
                label,
                obj,
                material,
                np.asarray(color, np.float32),
                np.asarray(center, np.float32),
                np.asarray(half, np.float32),
                float(yaw),
                p=p,
            )
        )

    def cyl(
        self,
        obj: int,
        label: str,
        material: str,
        color: np.ndarray,
        base: Sequence[float],
        radius: float,
        height: float,
        **p: object,
    ) -> None:
        """Record a vertical cylinder standing on ``base`` (world)."""
        self.surfaces.append(
            Surface(
                "cyl",
                label,
                obj,
                material,
                np.asarray(color, np.float32),
                np.asarray(base, np.float32),
                np.asarray([radius, radius, height], np.float32),
                p=p,
            )
        )

    def decal(
        self,
        obj: int,
        label: str,
        material: str,
        color: np.ndarray,
        wall: int,
        s0: float,
        z0: float,
        width: float,
        height: float,
        **p: object,
    ) -> None:
        """Record a flat rectangle on ``wall`` from (s0, z0), ``width`` along the wall and ``height`` up."""
        self.surfaces.append(
            Surface(
                "decal",
                label,
                obj,
                material,
                np.asarray(color, np.float32),
                wall=wall,
                rect=(float(s0), float(z0), float(width), float(height)),
                p=p,
            )
        )

    # -- placement -----------------------------------------------------------------------------
    def local_box(
        self,
        frame: tuple[float, float, float],
        obj: int,
        label: str,
        material: str,
        color: np.ndarray,
        lc: Sequence[float],
        half: Sequence[float],
        **p: object,
    ) -> None:
        """A box given in an object frame (cx, cy, yaw): ``lc`` is its centre in that frame (z up from floor)."""
        x, y = world_xy(frame, lc[0], lc[1])
        self.box(obj, label, material, color, (x, y, lc[2]), half, frame[2], **p)

    def local_cyl(
        self,
        frame: tuple[float, float, float],
        obj: int,
        label: str,
        material: str,
        color: np.ndarray,
        lc: Sequence[float],
        radius: float,
        height: float,
        **p: object,
    ) -> None:
        """A vertical cylinder given in an object frame (cx, cy, yaw): ``lc`` is the centre of its base."""
        x, y = world_xy(frame, lc[0], lc[1])
        self.cyl(obj, label, material, color, (x, y, lc[2]), radius, height, **p)

    def draw_against_wall(
        self,
        width: tuple[float, float],
        depth: tuple[float, float],
        height: tuple[float, float],
        walls: Sequence[int] | None = None,
        gap: float = 0.01,
    ) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
        """A size drawn uniformly from the (low, high) ranges ``width``, ``depth``, ``height`` and a free spot for
        it against a wall: ((w, d, h), (cx, cy, yaw)) or None."""
        rng = self.rng
        w, d, h = (float(rng.uniform(*width)), float(rng.uniform(*depth)), float(rng.uniform(*height)))
        frame = self.place_against_wall(w, d, h, walls=walls, gap=gap)
        return None if frame is None else ((w, d, h), frame)

    def place_against_wall(
        self,
        width: float,
        depth: float,
        height: float,
        walls: Sequence[int] | None = None,
        tries: int = 25,
        gap: float = 0.01,
    ) -> tuple[float, float, float] | None:
        """A free spot with the object's back to a wall (by default one of 0, 1, 2, 3, with the far wall 3 twice
        as likely): the object frame (cx, cy, yaw), or None after ``tries`` misses."""
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
            rect = world_aabb(cx, cy, width / 2, depth / 2, yaw)
            if self.free_floor(rect):
                return cx, cy, yaw
        return None

    def place_free(
        self,
        width: float,
        depth: float,
        region: tuple[float, float, float, float] | None = None,
        yaw: float | None = None,
        tries: int = 25,
    ) -> tuple[float, float, float] | None:
        """A free spot anywhere (or in ``region`` = x0, y0, x1, y1): (cx, cy, yaw) or None."""
        w, d = float(self.size[0]), float(self.size[1])
        x0, y0, x1, y1 = region if region is not None else (0.3, 0.3, w - 0.3, d - 0.3)
        for _ in range(tries):
            a = float(self.rng.uniform(0, 2 * math.pi)) if yaw is None else yaw
            cx, cy = float(self.rng.uniform(x0, max(x0, x1))), float(self.rng.uniform(y0, max(y0, y1)))
            if self.free_floor(world_aabb(cx, cy, width / 2, depth / 2, a)):
                return cx, cy, a
        return None

    def occupy(self, cx: float, cy: float, width: float, depth: float, yaw: float, shadow: float = 0.35) -> None:
        """Mark a ``width`` x ``depth`` footprint as taken, casting a contact shadow of strength ``shadow``."""
        self.boxes2d.append(world_aabb(cx, cy, width / 2, depth / 2, yaw))
        self.footprints.append((cx, cy, width / 2, depth / 2, yaw, shadow))
