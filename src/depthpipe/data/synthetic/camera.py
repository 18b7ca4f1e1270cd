"""The camera model: NYU Kinect RGB intrinsics scaled to any image size, and the camera-to-world rotation."""

from __future__ import annotations

import math

import numpy as np

NYU_HEIGHT, NYU_WIDTH = 480, 640
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362)  # fx, fy, cx, cy of the Kinect RGB camera at 640x480


def intrinsics(height: int = NYU_HEIGHT, width: int = NYU_WIDTH) -> tuple[float, float, float, float]:
    """NYU Kinect RGB intrinsics (fx, fy, cx, cy) scaled to an image of ``height`` x ``width``."""
    fx, fy, cx, cy = NYU_INTRINSICS
    sx, sy = width / NYU_WIDTH, height / NYU_HEIGHT
    return fx * sx, fy * sy, cx * sx, cy * sy


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation: camera (x right, y down, z forward), world (x, y horizontal, z up)."""
    base = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float64)  # looking along +y, level
    cy, sy = math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    cp, sp = math.cos(pitch), math.sin(pitch)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # positive pitch looks up (camera y is down)
    cr, sr = math.cos(roll), math.sin(roll)
    rr = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ base @ rx @ rr
