"""Running exported models on the CPU: the ``.pt2`` program and ONNX Runtime sessions, on RGB batches in [0, 1]."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from depthpipe.errors import DepthpipeError
from depthpipe.serving.program import load_program

INPUT_NAME = "rgb"
OUTPUT_NAME = "depth_m"


def images_to_tensor(images: np.ndarray) -> Tensor:
    """(N,H,W,3) uint8 -> (N,3,H,W) float32 in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def load_pt2(path: str | os.PathLike[str]) -> Callable[[Tensor], Tensor]:
    """The callable module of a saved ``.pt2`` program."""
    try:
        return load_program(path)
    except Exception as exc:  # noqa: BLE001 - any load failure is the same user error, named
        raise DepthpipeError(
            f"{path}: cannot load exported program ({type(exc).__name__}: {str(exc).splitlines()[0]}); export it "
            f"again (`dvc repro export@<variant>`)"
        ) from None


def onnx_session(path: str | os.PathLike[str]) -> Any:
    """An ONNX Runtime CPU session for ``path``.

    Its worker threads do not spin-wait between runs, which on a small CPU would starve the torch code running
    in between (eager parity, pre/post-processing).
    """
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any load failure is the same user error, named
        raise DepthpipeError(
            f"{path}: cannot load ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None


def format_runner(path: str | os.PathLike[str], fmt: str) -> Callable[[Tensor], np.ndarray]:
    """``(N,3,h,w) float32 [0,1] -> (N,1,h,w)`` numpy, with the ``.pt2`` program (``fmt`` pt2) or the ONNX Runtime
    session (``fmt`` onnx) of ``path``."""
    if fmt == "onnx":
        sess = onnx_session(path)
        return lambda x: sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    if fmt == "pt2":
        module = load_pt2(path)

        def run(x: Tensor) -> np.ndarray:
            with torch.no_grad():
                return module(x).numpy()

        return run
    raise DepthpipeError(f"{path}: exported format must be onnx or pt2 (got {fmt!r})")
