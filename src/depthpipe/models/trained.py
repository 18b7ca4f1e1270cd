"""A trained model's folder, ``models/<variant>/``, and how to load it safely.

``model.pt``     the best weights: a plain ``state_dict`` (tensors only, loadable with
                 ``torch.load(..., weights_only=True)``);
``config.json``  what is needed to rebuild the network and interpret its output (variant, model params,
                 input/output size, depth range) and what determined the weights (epochs, effective batch and
                 lr, precision, the prepared data's sha256). Nothing else: provenance (commit, run ids, times)
                 lives in MLflow, so the same weights always come with the same bytes here.

Every file is written under a temporary name and renamed into place, and with the same tensors gives the same
bytes (:func:`save_tensors`).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path, read_json, write_json_atomic
from depthpipe.models import build_model

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"


def save_trained(
    model_dir: str | os.PathLike[str], state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> None:
    """Write ``model.pt`` and ``config.json`` atomically into ``model_dir``."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    save_tensors(d / MODEL_FILE, {k: v.detach().cpu().contiguous() for k, v in state_dict.items()})
    write_json_atomic(d / CONFIG_FILE, dict(config))


def save_tensors(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save`` atomically and byte-reproducibly.

    Saving to an open file, not to a path, keeps the archive's inner folder name fixed (``archive/``) instead of
    the temporary file's name, so the same tensors always give the same bytes (DVC cache hits).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        try:
            torch.save(obj, fh)
        except RuntimeError as exc:
            # whatever stops the write (a full disk, Ctrl-C) makes torch's archive writer fail again as it closes,
            # with a RuntimeError that hides it: raise what happened
            if exc.__context__ is not None:
                raise exc.__context__ from None
            raise


def read_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a trained model directory."""
    return read_json(Path(model_dir) / CONFIG_FILE, "a trained model directory")


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True`` and a one-line error naming the file."""
    p = Path(path)
    if not p.exists():
        raise DepthpipeError(f"{p}: checkpoint not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a pickle that needs code to load: not written by depthpipe
        raise DepthpipeError(
            f"{p}: not a depthpipe checkpoint (it holds Python objects, not only tensors); it was not loaded. "
            f"Delete it if you did not make it, or move it away and run the stage again"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated zip, not a torch file, ...
        raise DepthpipeError(
            f"{p}: unreadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]}); delete it and run "
            f"the stage again"
        ) from None


def load_trained(model_dir: str | os.PathLike[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the trained network of ``model_dir`` in eval mode on the CPU, with its config.

    The network is built without pretrained encoder files (``model.pt`` holds every weight), so a model
    trained from ImageNet weights loads on a machine that has none.
    """
    config = read_config(model_dir)
    model = build_model(config["variant"], {**config["model"], "encoder_weights": "none"})
    state = load_state_dict(Path(model_dir) / MODEL_FILE)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DepthpipeError(
            f"{Path(model_dir) / MODEL_FILE}: weights do not match {config['variant']} with {config['model']} "
            f"({str(exc).splitlines()[0]})"
        ) from None
    return model.eval(), config
