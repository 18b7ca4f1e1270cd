"""Ray casting: one ray per pixel against the room's box, the oriented boxes and the vertical cylinders.

The room is the exit of the ray from the room's slab; every other primitive is a ray-box slab test (or a
ray-cylinder test) restricted to its projected bounding rectangle. The z-buffer holds the depth along the
optical axis (the camera-frame z, like Kinect depth), not the Euclidean ray length: rays are parametrised with a
unit camera z component, so the ray parameter *is* that depth. Decals are not cast: shading paints them onto
the wall pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthpipe.data.synthetic.camera import intrinsics
from depthpipe.data.synthetic.scene import Scene, Surface


@dataclass
class Hits:
    """What each pixel's ray hits first: depth, surface and face."""

    t: np.ndarray  # (H, W) float32 camera z depth
    sid: np.ndarray  # (H, W) int16 surface index
    face: np.ndarray  # (H, W) int8: axis * 2 + (normal points to +axis); cylinders: 0 side, 5 top, 4 bottom
    dirs: tuple[np.ndarray, np.ndarray, np.ndarray]  # world ray directions with unit camera z


@dataclass
class _Window:
    """The rays of one pixel rectangle (origin ``o``, directions ``dx``/``dy``/``dz``) and views of the z-buffer
    there (``t``, ``sid``, ``face`` as in :class:`Hits`), which the hit tests update in place."""

    o: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    t: np.ndarray
    sid: np.ndarray
    face: np.ndarray


def _bbox(
    scene: Scene, corners: np.ndarray, k: tuple[float, float, float, float], hw: tuple[int, int]
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


def _corners(s: Surface) -> np.ndarray | None:
    """The 8 world corners of a box, or of a cylinder's bounding box; None for room faces and decals."""
    if s.kind == "box":
        return _box_corners(s)
    if s.kind == "cyl":
        rr, hh = float(s.half[0]), float(s.half[2])
        return np.array(
            [
                (s.center[0] + ax, s.center[1] + ay, s.center[2] + az)
                for ax in (-rr, rr)
                for ay in (-rr, rr)
                for az in (0.0, hh)
            ]
        )
    return None


def _box_corners(s: Surface) -> np.ndarray:
    """The 8 world corners of the oriented box ``s``."""
    hx, hy, hz = (float(v) for v in s.half)
    c, sn = math.cos(s.yaw), math.sin(s.yaw)
    pts = []
    for ax in (-hx, hx):
        for ay in (-hy, hy):
            for az in (-hz, hz):
                pts.append((s.center[0] + c * ax - sn * ay, s.center[1] + sn * ax + c * ay, s.center[2] + az))
    return np.asarray(pts)


def cast(scene: Scene, height: int, width: int) -> Hits:
    """Cast the rays of a ``height`` x ``width`` image through the scene: the nearest hit per pixel."""
    k = intrinsics(height, width)
    dx, dy, dz = _ray_directions(scene, k, height, width)
    o = scene.cam_pos.astype(np.float32)
    t, sid = _room_exit(scene, o, dx, dy, dz)
    face = np.zeros((height, width), np.int8)
    for i, s in enumerate(scene.surfaces):
        corners = _corners(s)
        if corners is None:
            continue
        box = _bbox(scene, corners, k, (height, width))
        if box is None:
            continue
        v0, v1, u0, u1 = box
        win = (slice(v0, v1), slice(u0, u1))
        window = _Window(o, dx[win], dy[win], dz[win], t[win], sid[win], face[win])
        (_hit_box if s.kind == "box" else _hit_cyl)(s, window, i)
    return Hits(t, sid, face, (dx, dy, dz))


def _ray_directions(
    scene: Scene, k: tuple[float, float, float, float], height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World directions (dx, dy, dz), each (H, W) float32, of the pixel rays with unit camera z."""
    fx, fy, cx, cy = k
    u = ((np.arange(width, dtype=np.float32) - cx) / fx)[None, :]
    v = ((np.arange(height, dtype=np.float32) - cy) / fy)[:, None]
    r = scene.cam_rot.astype(np.float32)
    dx = r[0, 0] * u + r[0, 1] * v + r[0, 2]
    dy = r[1, 0] * u + r[1, 1] * v + r[1, 2]
    dz = r[2, 0] * u + r[2, 1] * v + r[2, 2]
    dx, dy, dz = (np.broadcast_to(a, (height, width)).astype(np.float32) for a in (dx, dy, dz))
    for d in (dx, dy, dz):  # no exact zeros: every slab division below is then finite or +-inf by sign
        d[d == 0] = np.float32(1e-12)
    return dx, dy, dz


def _room_exit(
    scene: Scene, o: np.ndarray, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Depth and room face (the surface index 0-5) where each ray leaves the room (the camera is inside)."""
    # room: the exit of the ray from [0, W] x [0, D] x [0, H]
    with np.errstate(divide="ignore", invalid="ignore"):
        tx, ty, tz = (
            (np.where(d > 0, np.float32(scene.size[a]), np.float32(0)) - o[a]) / d for a, d in enumerate((dx, dy, dz))
        )
    t = np.minimum(np.minimum(tx, ty), tz)
    axis = np.where((tx <= ty) & (tx <= tz), 0, np.where(ty <= tz, 1, 2))
    pos = np.where(axis == 0, dx > 0, np.where(axis == 1, dy > 0, dz > 0))  # positive: the far side of the slab
    sid = (axis * 2 + pos).astype(np.int16)  # 0/1 walls x=0/W, 2/3 walls y=0/D, 4 floor, 5 ceiling
    return t, sid


def _hit_box(s: Surface, w: _Window, index: int) -> None:
    """Slab test of an oriented box against the rays of one window; updates its t/sid/face in place."""
    o, dx, dy, dz = w.o, w.dx, w.dy, w.dz
    c, sn = np.float32(math.cos(s.yaw)), np.float32(math.sin(s.yaw))
    ox, oy, oz = (float(v) for v in (o - s.center))
    lo = (float(c * ox + sn * oy), float(c * oy - sn * ox), oz)
    ld = (c * dx + sn * dy, c * dy - sn * dx, dz)
    slabs = [_slab(d, o_a, h) for d, o_a, h in zip(ld, lo, (float(x) for x in s.half))]
    tn, tf = slabs[0]
    for near, far in slabs[1:]:
        tn = np.maximum(tn, near, out=tn)
        tf = np.minimum(tf, far, out=tf)
    hit = (tn <= tf) & (tn > 1e-3) & (tn < w.t)
    rows, cols = np.nonzero(hit)
    if rows.size == 0:
        return
    # which slab was entered last gives the face; its normal opposes the ray along that axis. The entry
    # distances are recomputed for the hit pixels by the same _slab (the same float32 operations), so the
    # equality test below is exact.
    dl = [a[rows, cols] for a in ld]
    enter = [_slab(d, o_a, h)[0] for d, o_a, h in zip(dl, lo, (float(x) for x in s.half))]
    th = np.maximum(np.maximum(enter[0], enter[1]), enter[2])
    axis = np.where(enter[0] == th, 0, np.where(enter[1] == th, 1, 2))
    dsel = np.where(axis == 0, dl[0], np.where(axis == 1, dl[1], dl[2]))
    w.t[rows, cols] = th
    w.sid[rows, cols] = index
    w.face[rows, cols] = (axis * 2 + (dsel < 0)).astype(np.int8)


def _slab(d: np.ndarray, o_a: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters (near, far) where rays from ``o_a`` with direction component ``d`` (box frame) enter and
    leave the slab [-h, h] along one axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.float32(1.0) / d
        t1 = (-h - o_a) * inv
        t2 = (h - o_a) * inv
        return np.minimum(t1, t2), np.maximum(t1, t2)


def _hit_cyl(s: Surface, w: _Window, index: int) -> None:
    """Ray against a vertical cylinder (side, top and bottom caps); updates the window's t/sid/face in place."""
    o, dx, dy, dz = w.o, w.dx, w.dy, w.dz
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
    hit = best < w.t
    if hit.any():
        w.t[hit] = best[hit]
        w.sid[hit] = index
        w.face[hit] = code[hit]
