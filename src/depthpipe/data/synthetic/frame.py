"""Rendering one frame: scene, rays and shading turned into the stored RGB, depth, raw depth, labels, instances.

A frame draws from ``np.random.default_rng([seed, index])`` only, in a fixed order (scene, noise textures, raw
depth noise and holes, RGB noise), so it depends on ``(seed, index)`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from depthpipe.data.synthetic.camera import NYU_HEIGHT, NYU_WIDTH, intrinsics
from depthpipe.data.synthetic.geometry import cast
from depthpipe.data.synthetic.kinect import raw_depth
from depthpipe.data.synthetic.room import build_scene
from depthpipe.data.synthetic.scene import Scene
from depthpipe.data.synthetic.shading import shade
from depthpipe.errors import DepthpipeError

MAX_DEPTH = 10.0  # metres: the dense depth lies in (0, MAX_DEPTH]

_F = np.float32  # scalars are float32 so arithmetic on float32 arrays stays float32


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


def render_frame(
    seed: int, index: int, label_ids: Mapping[str, int], height: int = NYU_HEIGHT, width: int = NYU_WIDTH
) -> SyntheticFrame:
    """Render frame ``index`` of the synthetic set ``seed``; depends on ``(seed, index)`` only.

    ``label_ids`` maps the names in :data:`LABEL_CLASSES` to NYU ids (from :func:`label_ids`).
    """
    if height < 8 or width < 8:
        raise DepthpipeError(f"synthetic: image size {height}x{width} is too small")
    rng = np.random.default_rng([int(seed), int(index)])
    scene = build_scene(rng)
    hits = cast(scene, height, width)
    label_of, inst_of = _surface_labels(scene, label_ids)
    rgb_lin, no_depth = shade(scene, hits, rng)
    sid = hits.sid  # with the decals shade painted in
    depth = np.clip(_quantise(hits.t, 12), np.float32(2.0**-12), np.float32(MAX_DEPTH))
    raw = _quantise(raw_depth(depth, no_depth, intrinsics(height, width)[0], rng), 10)
    rgb = _display_rgb(rgb_lin, rng)
    return SyntheticFrame(
        rgb=rgb,
        depth=depth,
        raw_depth=raw,
        label=label_of[sid],
        instance=inst_of[sid],
        scene=f"synthetic_{scene.room_type}_{int(index):04d}",
        room_type=scene.room_type,
    )


def _surface_labels(scene: Scene, label_ids: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """NYU label id (uint16) and instance number (uint8) of every surface of ``scene``.

    Instances are numbered per label from 1 in the order objects were created (capped at 255); surfaces of one
    object share its number.
    """
    missing = [s.label for s in scene.surfaces if s.label not in label_ids]
    if missing:
        raise DepthpipeError(f"synthetic: no NYU id given for label '{missing[0]}'")
    label_of = np.array([label_ids[s.label] for s in scene.surfaces], np.uint16)
    inst_of = np.zeros(len(scene.surfaces), np.uint8)
    seen: dict[tuple[str, int], int] = {}
    per_label: dict[str, int] = {}
    for i, s in enumerate(scene.surfaces):
        key = (s.label, s.obj)
        if key not in seen:
            per_label[s.label] = per_label.get(s.label, 0) + 1
            seen[key] = min(per_label[s.label], 255)
        inst_of[i] = seen[key]
    return label_of, inst_of


def _display_rgb(rgb_lin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The (H, W, 3) uint8 image of the linear (3, H, W) one: display gamma 2 (a square root), then slight
    uniform sensor noise (standard deviation 2 levels)."""
    _, height, width = rgb_lin.shape
    rgb = np.empty((height, width, 3), np.uint8)
    amp = _F(2 * math.sqrt(3) * 2.0)
    for ch in range(3):
        noise = rng.random((height, width), dtype=np.float32)
        noise -= _F(0.5)
        noise *= amp
        noise += np.sqrt(np.clip(rgb_lin[ch], _F(0), _F(1))) * _F(255) + _F(0.5)
        rgb[:, :, ch] = np.clip(noise, _F(0), _F(255))
    return rgb


def _quantise(x: np.ndarray, bits: int) -> np.ndarray:
    """Round to multiples of 2**-bits (exact in float32, so the stored file compresses far better)."""
    scale = np.float32(1 << bits)
    return (np.rint(x * scale) / scale).astype(np.float32)
