"""Where a hit lies on its surface: texture coordinates in metres, the world normal, and the front-face mask."""

from __future__ import annotations

import math

import numpy as np

from depthpipe.data.synthetic.scene import ROOM_NORMALS, Surface

_F = np.float32  # scalars are float32 so arithmetic on float32 arrays stays float32


def surface_frame(
    s: Surface, px: np.ndarray, py: np.ndarray, pz: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple, np.ndarray]:
    """Texture coordinates (u, v) in metres, the world normal (3 arrays or scalars) and a front-face mask at the
    world points (px, py, pz) on ``s``, with ``face`` the hit face codes of :class:`~.geometry.Hits`."""
    if s.kind == "room" or s.kind == "decal":
        return _planar_frame(s, px, py, pz)
    if s.kind == "cyl":
        return _cylinder_frame(s, px, py, pz, face)
    return _box_frame(s, px, py, pz, face)


def _planar_frame(
    s: Surface, px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple, np.ndarray]:
    """Room faces and decals: (u, v) along the face's two axes (decals: from their lower left corner)."""
    n = px.shape[0]
    k = s.wall
    normal = tuple(_F(x) for x in ROOM_NORMALS[k])
    if k in (0, 1):
        u, v = py, pz
    elif k in (2, 3):
        u, v = px, pz
    else:
        u, v = px, py
    if s.kind == "decal":
        u, v = u - _F(s.rect[0]), v - _F(s.rect[1])
    return u, v, normal, np.ones(n, bool)


def _cylinder_frame(
    s: Surface, px: np.ndarray, py: np.ndarray, pz: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple, np.ndarray]:
    """Cylinders: caps in plan coordinates, the side unrolled (arc length, height); the side is the front."""
    rx, ry, rz = px - _F(s.center[0]), py - _F(s.center[1]), pz - _F(s.center[2])
    top = face >= 4
    r = _F(max(float(s.half[0]), 1e-6))
    u = np.where(top, rx, np.arctan2(ry, rx) * r)
    v = np.where(top, ry, rz)
    zero = _F(0)
    normal = (
        np.where(top, zero, rx / r),
        np.where(top, zero, ry / r),
        np.where(face == 5, _F(1), np.where(face == 4, _F(-1), zero)),
    )
    return u, v, normal, ~top


def _box_frame(
    s: Surface, px: np.ndarray, py: np.ndarray, pz: np.ndarray, face: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple, np.ndarray]:
    """Boxes: (u, v) from the box's corner in the plane of the hit face; the front is the local +y face."""
    c, sn = _F(math.cos(s.yaw)), _F(math.sin(s.yaw))
    rx, ry, rz = px - _F(s.center[0]), py - _F(s.center[1]), pz - _F(s.center[2])
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
