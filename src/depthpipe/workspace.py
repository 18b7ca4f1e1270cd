"""Where the pipeline's files lie in a workspace: the one place their paths are spelled.

A workspace is a project directory a stage runs in (the project root, or the temporary copy of ``dvc exp run
--temp``). :class:`WorkspacePaths` of ``Path()`` gives the same paths relative to the root, as ``dvc.yaml`` and
``git show <rev>:<path>`` name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkspacePaths:
    """The data, models, reports, metrics and exports under ``root``."""

    root: Path = Path()

    @property
    def raw(self) -> Path:
        """``data/raw/``: the data as downloaded (or placed), with ``source.json``."""
        return self.root / "data" / "raw"

    @property
    def prepared(self) -> Path:
        """``data/prepared/``: the split, resized frames and targets."""
        return self.root / "data" / "prepared"

    @property
    def check_report(self) -> Path:
        """``reports/check.json``: the params sections checked."""
        return self.root / "reports" / "check.json"

    @property
    def validation_report(self) -> Path:
        """``reports/validation.json``: the data checks' results."""
        return self.root / "reports" / "validation.json"

    @property
    def frame_stats(self) -> Path:
        """``reports/frame_stats.csv``: the per-frame statistics the data checks ran on."""
        return self.root / "reports" / "frame_stats.csv"

    def model_dir(self, variant: str) -> Path:
        """``models/<variant>/``: the trained weights and their config."""
        return self.root / "models" / variant

    def train_reports(self, variant: str) -> Path:
        """``reports/train/<variant>/``: loss history and curves."""
        return self.root / "reports" / "train" / variant

    def eval_reports(self, variant: str) -> Path:
        """``reports/eval/<variant>/``: per-frame evidence, summary and figures of the test split."""
        return self.root / "reports" / "eval" / variant

    def metrics(self, variant: str) -> Path:
        """``metrics/<variant>.json``: the test metrics."""
        return self.root / "metrics" / f"{variant}.json"

    def exports(self, variant: str) -> Path:
        """``exports/<variant>/``: the exported ``.pt2`` and ONNX files and ``export.json``."""
        return self.root / "exports" / variant

    def seeds(self, variant: str) -> Path:
        """``reports/seeds/<variant>.json``: a seed study's spreads (``depthpipe seeds``)."""
        return self.root / "reports" / "seeds" / f"{variant}.json"
