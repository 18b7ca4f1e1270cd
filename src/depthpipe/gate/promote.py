"""``depthpipe promote``: every alias decision that needs the registry and the gate, in one place.

``@candidate`` is set by the export stage from its own inputs (the model beats the mean-depth baseline).
``@champion`` moves to the ``@candidate`` version only when both hold:

1. the merge gate passes for the workspace against the baseline revision (:func:`depthpipe.gate.verdict.run_gate`,
   run by the caller);
2. the candidate does not regress against the current champion: the gate's paired bootstrap over the two
   versions' own per-frame evidence, which each export run keeps (:func:`champion_refusals`).

A registry that cannot be read stops promotion with an error naming the store; it never reads as "no champion".
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from depthpipe.config import GateConfig
from depthpipe.errors import DepthpipeError
from depthpipe.gate.compare import compare
from depthpipe.gate.evidence import EVIDENCE, GateError, Workspace, eval_path, pair, read_side
from depthpipe.tracking import registry


class PromotionRefused(DepthpipeError):
    """The champion stays: the message says why; :attr:`table` is the gate's report (empty if it did not run)."""

    def __init__(self, message: str, table: str = "") -> None:
        super().__init__(message)
        self.table = table


@dataclass(frozen=True)
class Promotion:
    """What ``depthpipe promote`` did: the gate's table, and the version now ``@champion``."""

    table: str
    version: str


def _version_evidence(variant: str, version: str, root: Path) -> Workspace:
    """A workspace at ``root`` holding the per-frame evidence the export run of ``version`` logged."""
    folder = root / eval_path(variant, "")
    folder.parent.mkdir(parents=True, exist_ok=True)
    registry.download_version_artifacts(registry.registered_model_name(variant), version, EVIDENCE, folder.parent)
    (folder.parent / EVIDENCE).rename(folder)
    return Workspace(root)


def champion_refusals(variant: str, candidate: str, champion: str, cfg: GateConfig) -> list[str]:
    """Why ``candidate`` must not replace ``champion`` (empty: it may): the gate finds a regression between their
    per-frame evidence, or the two cannot be compared (other test frames, evidence missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sides = [_version_evidence(variant, v, Path(tmp) / v) for v in (champion, candidate)]
            base, cand = pair(variant, *(read_side(side, variant) for side in sides))  # type: ignore[arg-type]
        except (GateError, OSError, TypeError) as exc:
            return [f"not comparable with @{registry.CHAMPION_ALIAS} (version {champion}): {str(exc).splitlines()[0]}"]
        result = compare({variant: (base, cand)}, cfg, Path(tmp))
    worse = [f"{c.group}/{c.metric}" for c in result.comparisons if c.verdict == "regressed"]
    if worse:
        return [f"regressed against @{registry.CHAMPION_ALIAS} (version {champion}) on {', '.join(worse)}"]
    return []


def promote(variant: str, cfg: GateConfig, gate: tuple[str, int]) -> Promotion:
    """Move ``@champion`` of ``depthpipe-<variant>`` to its ``@candidate`` version (see the module docstring);
    ``gate`` is :func:`~depthpipe.gate.verdict.run_gate`'s ``(table, exit_code)`` for the workspace.

    Raises :class:`PromotionRefused` (one line) when there is no candidate, the gate does not pass, or the
    candidate regresses against the champion; the champion then stays where it was.
    """
    name = registry.registered_model_name(variant)
    candidate = registry.model_version_for_alias(name, registry.CANDIDATE_ALIAS)
    if candidate is None:
        raise PromotionRefused(
            f"registered model '{name}' has no @{registry.CANDIDATE_ALIAS} version in "
            f"{registry.registry_location()}: {registry.why_no_alias(name, registry.CANDIDATE_ALIAS)}"
        )
    champion = registry.model_version_for_alias(name, registry.CHAMPION_ALIAS)
    stays = f"'{name}' @{registry.CHAMPION_ALIAS} stays at {'version ' + champion if champion else 'no version'}"
    table, code = gate
    if code != 0:
        raise PromotionRefused(f"the metrics gate did not pass; {stays} (candidate is version {candidate})", table)
    refusals = champion_refusals(variant, candidate, champion, cfg) if champion not in (None, candidate) else []
    if refusals:
        raise PromotionRefused(f"version {candidate}: {'; '.join(refusals)}; {stays}", table)
    registry.set_model_alias(name, registry.CHAMPION_ALIAS, candidate)
    return Promotion(table, candidate)
