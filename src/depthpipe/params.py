"""Reading ``params.yaml``: the one source of configuration, read once per stage.

``recipe`` names an overlay under ``recipes`` (``cpu``, ``paper``, ``tiny``...) that is deep-merged over
the top-level sections, so ``dvc exp run -S recipe=paper`` switches every stage to the published recipe
while DVC tracks the params each stage declares.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from depthpipe.errors import DepthpipeError

PARAMS_FILE = "params.yaml"


def repo_root() -> Path:
    """The project root: ``DVC_ROOT`` inside a DVC stage, else the nearest parent holding ``dvc.yaml``."""
    env = os.environ.get("DVC_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "dvc.yaml").exists() or (cand / PARAMS_FILE).exists():
            return cand
    return here


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``over`` merged in: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """All params with the selected recipe applied. ``path`` defaults to ``<repo root>/params.yaml``."""
    file = Path(path) if path is not None else repo_root() / PARAMS_FILE
    try:
        raw = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise DepthpipeError(f"{file}: params file not found") from None
    except yaml.YAMLError as exc:
        raise DepthpipeError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise DepthpipeError(f"{file}: expected a mapping at the top level")
    recipe = raw.get("recipe", "cpu")
    recipes = raw.get("recipes") or {}
    if recipe not in recipes:
        raise DepthpipeError(
            f"{file}: recipe '{recipe}' is not defined under 'recipes' (have: {', '.join(sorted(recipes))})"
        )
    base = {k: v for k, v in raw.items() if k not in ("recipes",)}
    return deep_merge(base, recipes[recipe] or {})


def section(params: Mapping[str, Any], dotted: str) -> dict[str, Any]:
    """``params['a']['b']`` for ``dotted='a.b'``, with an error naming the missing key."""
    node: Any = params
    walked = []
    for part in dotted.split("."):
        walked.append(part)
        if not isinstance(node, Mapping) or part not in node:
            raise DepthpipeError(f"params.yaml: missing key '{'.'.join(walked)}'")
        node = node[part]
    if not isinstance(node, Mapping):
        raise DepthpipeError(f"params.yaml: '{dotted}' must be a mapping")
    return dict(node)


def require(cond: bool, key: str, why: str) -> None:
    """Raise a one-line params error for ``key`` unless ``cond`` holds."""
    if not cond:
        raise DepthpipeError(f"params.yaml: {key} {why}")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}``; lists become their string form (for MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
