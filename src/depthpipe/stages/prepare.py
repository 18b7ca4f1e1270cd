"""Stage ``prepare``: split, resize, reciprocal-depth targets (or frames kept encoded) in ``data/prepared/``."""

from __future__ import annotations

from pathlib import Path

from depthpipe.config import Params, flatten
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.sources.raw_folder import SOURCE_JSON, open_raw
from depthpipe.files import read_json
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags


def main(params: Params, workspace: Path) -> None:
    """Prepare ``data/raw`` into ``data/prepared`` (``prepare`` and ``data.class_mapping``) and log the run."""
    raw, prepared = workspace / "data" / "raw", workspace / "data" / "prepared"
    source = read_json(raw / SOURCE_JSON, "the download stage's output")
    sha = source["data_sha256"]
    with open_raw(raw, source["source"]) as frames:
        summary = prepare_source(
            frames,
            workspace / params.data.class_mapping,
            prepared,
            params.prepare,
            source_sha256=sha,
            source=source.get("source", ""),
        )
    tags = stage_tags("prepare", None, source.get("source"), sha or None)
    figures = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    runs.log_stage("prepare", flatten({"prepare": params.prepare}), figures, tags, [prepared / "manifest.csv"])
    print(f"prepare: {summary}")
