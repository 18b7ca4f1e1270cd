"""``params.yaml`` composed from ``conf/`` exactly as DVC's Hydra integration composes it for ``dvc exp run``.

``dvc exp run -S recipe=paper`` composes ``params.yaml`` itself; :func:`compose_params` does the same for a
plain ``dvc repro`` (``depthpipe params --recipe paper``, ``make params``), with DVC's own function, so the
bytes are the ones DVC would write and ``dvc exp run`` on the default recipe changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from dvc.utils.hydra import compose_and_dump
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from depthpipe.config import PARAMS_FILE, Params, parse
from depthpipe.errors import DepthpipeError
from depthpipe.files import atomic_path

CONF_DIR = "conf"
CONFIG_NAME = "config"


def recipes(workspace: Path) -> list[str]:
    """The recipe names of ``conf/recipe/``."""
    return sorted(p.stem for p in (workspace / CONF_DIR / "recipe").glob("*.yaml"))


def compose_params(
    workspace: str | os.PathLike[str], overrides: Sequence[str] = (), out: str | os.PathLike[str] | None = None
) -> Params:
    """Compose ``conf/`` with Hydra ``overrides`` (``recipe=tiny``, ``train.densedepth.lr=2e-4``) into
    ``out`` (default ``<workspace>/params.yaml``), atomically, and return it checked."""
    workspace = Path(workspace).resolve()
    target = Path(out) if out is not None else workspace / PARAMS_FILE
    wanted = next((o.split("=", 1)[1] for o in overrides if o.startswith("recipe=")), None)
    if wanted is not None and wanted not in recipes(workspace):
        raise DepthpipeError(f"recipe {wanted!r} is not in {CONF_DIR}/recipe/ (have: {', '.join(recipes(workspace))})")
    with atomic_path(target) as tmp:
        try:
            compose_and_dump(tmp, str(workspace / CONF_DIR), None, CONFIG_NAME, str(workspace), list(overrides))
        except (HydraException, OmegaConfBaseException) as exc:
            raise DepthpipeError(
                f"{CONF_DIR}/: cannot compose {' '.join(overrides)} ({str(exc).splitlines()[0]})"
            ) from None
        params = parse(yaml.safe_load(tmp.read_text()), str(target))
    return params
