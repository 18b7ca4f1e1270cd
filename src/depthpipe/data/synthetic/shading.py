"""Shading: each pixel's albedo (decals painted onto the walls first) lit, occluded and faded, in linear RGB.

Lighting is Lambertian from ceiling point lights with distance fall-off, plus ambient (a little more from
above), with room-corner and contact darkening and a mild distance-dependent darkening, in linear RGB.
"""

from __future__ import annotations

import math

import numpy as np

from depthpipe.data.synthetic.geometry import Hits
from depthpipe.data.synthetic.materials import albedo
from depthpipe.data.synthetic.noise import noise_textures
from depthpipe.data.synthetic.scene import Scene, world_aabb
from depthpipe.data.synthetic.texcoords import surface_frame

_F = np.float32  # scalars are float32 so arithmetic on float32 arrays stays float32
_FLOOR_CELL = 0.025  # metres: plan grid of the floor occlusion

_Points = tuple[np.ndarray, np.ndarray, np.ndarray]  # world x, y, z (or normal components) per pixel, (n,)


def shade(scene: Scene, hits: Hits, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply wall decals to ``hits.sid`` in place; return the linear RGB image (3, H, W) float32 and a mask of
    pixels whose depth a Kinect would not measure (glass, screens, mirrors)."""
    hgt, wid = hits.t.shape
    t = hits.t.ravel()
    dx, dy, dz = (d.ravel() for d in hits.dirs)
    o = scene.cam_pos.astype(np.float32)
    pts = (o[0] + t * dx, o[1] + t * dy, o[2] + t * dz)
    sid = hits.sid.ravel()  # a view: the decals painted below land in hits.sid
    walls = np.flatnonzero(sid < 4)  # room walls, before decals are painted on them
    _paint_decals(scene, sid, pts)
    fine, coarse = noise_textures(rng)
    albedo_, normals, emit, no_depth = _surface_terms(scene, sid, hits.face.ravel(), pts, fine, coarse)
    occl = _occlusion(scene, sid, walls, pts)
    light = _lighting(scene, pts, normals, occl)
    fade = np.exp(t * _F(-0.035)) * _F(scene.exposure)  # mild darkening with distance
    light *= fade
    emit *= fade
    rgb = albedo_ * light
    rgb += emit
    rgb *= scene.tint[:, None]
    return rgb.reshape(3, hgt, wid), no_depth.reshape(hgt, wid)


def _paint_decals(scene: Scene, sid: np.ndarray, pts: _Points) -> None:
    """Repaint the wall pixels inside each decal's rectangle with the decal's surface index (in place)."""
    px, py, pz = pts
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


def _surface_terms(
    scene: Scene, sid: np.ndarray, face: np.ndarray, pts: _Points, fine: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, _Points, np.ndarray, np.ndarray]:
    """Per pixel, from the surface it shows: albedo (3, n), world normal (3 arrays), emission (n,) and the mask
    of pixels without Kinect depth (glowing glass of windows and mirrors, screen fronts)."""
    px, py, pz = pts
    n = sid.size
    alb = np.empty((3, n), np.float32)
    nx, ny, nz = (np.empty(n, np.float32) for _ in range(3))
    emit = np.zeros(n, np.float32)
    no_depth = np.zeros(n, bool)
    order = np.argsort(sid, kind="stable")
    counts = np.bincount(sid, minlength=len(scene.surfaces))
    start = 0
    for i, cnt in enumerate(counts):
        if cnt == 0:
            continue
        idx = order[start : start + cnt]
        start += cnt
        s = scene.surfaces[i]
        fc = face[idx]
        u, v, nrm, front = surface_frame(s, px[idx], py[idx], pz[idx], fc)
        a, e = albedo(s, u, v, front, fine, coarse)
        alb[:, idx] = a
        nx[idx], ny[idx], nz[idx] = nrm
        if e is not None:
            emit[idx] = e
        if s.material in ("window", "mirror") and e is not None:
            no_depth[idx] = e > 0
        elif s.material == "screen":
            no_depth[idx] = front
    return alb, (nx, ny, nz), emit, no_depth


def _occlusion(scene: Scene, sid: np.ndarray, walls: np.ndarray, pts: _Points) -> np.ndarray:
    """Ambient occlusion factor per pixel (n,): near the room's edges (floor and the ``walls`` pixels) and
    contact shadows around furniture on the floor; 1 elsewhere."""
    px, py, pz = pts
    w_room, d_room, h_room = (float(x) for x in scene.size)
    occl = np.ones(sid.size, np.float32)
    fl = np.flatnonzero(sid == 4)
    grid = _floor_occlusion(scene)
    gi = np.clip((py[fl] / _FLOOR_CELL).astype(np.int32), 0, grid.shape[0] - 1)
    gj = np.clip((px[fl] / _FLOOR_CELL).astype(np.int32), 0, grid.shape[1] - 1)
    occl[fl] = grid[gi, gj]
    wx, wy, wz = px[walls], py[walls], pz[walls]
    wo = 1 - 0.25 * np.exp(-wz / 0.2) - 0.2 * np.exp(-(h_room - wz) / 0.2)
    ws = np.minimum(np.minimum(wx, w_room - wx), np.minimum(wy, d_room - wy))
    occl[walls] = wo * (1 - 0.2 * np.exp(-ws / 0.2))
    return occl


def _floor_occlusion(scene: Scene) -> np.ndarray:
    """Darkening of the floor near the walls and around furniture, rasterised on a plan grid of _FLOOR_CELL."""
    w_room, d_room = float(scene.size[0]), float(scene.size[1])
    nx, ny = int(math.ceil(w_room / _FLOOR_CELL)), int(math.ceil(d_room / _FLOOR_CELL))
    xs = (np.arange(nx, dtype=np.float32) + 0.5) * np.float32(_FLOOR_CELL)
    ys = (np.arange(ny, dtype=np.float32) + 0.5) * np.float32(_FLOOR_CELL)
    edge = np.minimum.outer(np.minimum(ys, d_room - ys), np.minimum(xs, w_room - xs))
    grid = 1 - 0.3 * np.exp(-edge / 0.25)
    reach = 0.6  # metres beyond a footprint where its contact shadow is negligible
    for cx, cy, hx, hy, yaw, strength in scene.footprints:
        x0, y0, x1, y1 = world_aabb(cx, cy, hx + reach, hy + reach, yaw)
        j0, j1 = max(int(x0 / _FLOOR_CELL), 0), min(int(x1 / _FLOOR_CELL) + 1, nx)
        i0, i1 = max(int(y0 / _FLOOR_CELL), 0), min(int(y1 / _FLOOR_CELL) + 1, ny)
        if j0 >= j1 or i0 >= i1:
            continue
        c, sn = math.cos(yaw), math.sin(yaw)
        rx, ry = xs[None, j0:j1] - cx, ys[i0:i1, None] - cy
        sd = np.maximum(np.maximum(np.abs(c * rx + sn * ry) - hx, np.abs(c * ry - sn * rx) - hy), 0)
        grid[i0:i1, j0:j1] *= 1 - strength * np.exp(-sd / 0.12)
    return grid.astype(np.float32)


def _lighting(scene: Scene, pts: _Points, normals: _Points, occl: np.ndarray) -> np.ndarray:
    """Incident light per pixel (n,): ambient (a little more from above) + point lights with distance fall-off,
    Lambertian; occlusion darkens the ambient fully and the lights by half."""
    px, py, pz = pts
    nx, ny, nz = normals
    light = (scene.ambient * (0.85 + 0.15 * nz)) * occl
    soft = 0.5 + 0.5 * occl
    for pos, power in scene.lights:
        lx, ly, lz = float(pos[0]) - px, float(pos[1]) - py, float(pos[2]) - pz
        dist2 = lx * lx + ly * ly + lz * lz
        lam = np.maximum(nx * lx + ny * ly + nz * lz, 0) / np.sqrt(dist2)
        light += (power * lam / (1 + dist2 / 3.0)) * soft
    return light
