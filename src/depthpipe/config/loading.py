"""Reading ``params.yaml`` through the schema: one line per problem, naming the key, and typed copies with changes.

:func:`load_config` reads and checks the whole file (the ``check`` stage runs it before any other stage, so a
bad value anywhere stops the pipeline before DVC touches an output) and returns a frozen
:class:`~depthpipe.config.schema.Params`; each stage then hands its own typed sections to the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from depthpipe.config.schema import PARAMS_FILE, Params
from depthpipe.errors import DepthpipeError


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows at ``loc`` (the parent of an unknown key)."""
    node: Any = model
    for part in loc:
        field = node.model_fields.get(part) or next((f for f in node.model_fields.values() if f.alias == part), None)
        if field is None:
            return []
        node = field.annotation
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return []
    return [f.alias or name for name, f in node.model_fields.items()]


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith(("function-after", "tuple[")))


def error_lines(exc: ValidationError, model: type[BaseModel] | None = None, where: str = PARAMS_FILE) -> list[str]:
    """One line per problem: ``params.yaml: <dotted.key>: <what is wrong and what is allowed>``."""
    model = model or Params
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            lines.append(f"{where}: {key}: unknown key (allowed here: {', '.join(allowed)})")
        elif err["type"] == "missing":
            lines.append(f"{where}: {key}: missing (every key is required; see conf/config.yaml)")
        elif err["type"] == "value_error":
            lines.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        else:
            got = err.get("input")
            lines.append(f"{where}: {key}: {err['msg'][0].lower()}{err['msg'][1:]} (got {got!r})")
    return lines


def parse(raw: Any, where: str = PARAMS_FILE) -> Params:
    """Check a params mapping against the schema; a :class:`DepthpipeError` lists every problem, a line each."""
    if not isinstance(raw, dict):
        raise DepthpipeError(f"{where}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise DepthpipeError("\n".join(error_lines(exc, Params, where))) from None


def load_config(path: str | Path = PARAMS_FILE) -> Params:
    """Read and check ``path`` (default: ``params.yaml`` in the working directory, the stage's workspace)."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise DepthpipeError(f"{file}: params file not found (run from the project directory)") from None
    except yaml.YAMLError as exc:
        raise DepthpipeError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse(raw, str(file))


def with_changes(params: Params, changes: dict[str, Any]) -> Params:
    """A checked copy of ``params`` with dotted keys set, e.g. ``{"train.densedepth.epochs": 3}``."""
    raw = params.model_dump(by_alias=True)
    for key, value in changes.items():
        node: Any = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise DepthpipeError(f"{PARAMS_FILE}: {key}: no such key")
        node[leaf] = value
    return parse(raw)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}`` (models are dumped by their aliases first); for logging params."""
    if isinstance(tree, BaseModel):
        tree = tree.model_dump(by_alias=True)
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
