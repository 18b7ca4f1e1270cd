"""DVC stage `prepare`: data/raw split, resized, with reciprocal-depth targets (or frames kept encoded)
-> data/prepared/, and the stage's MLflow run."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

from depthpipe.config import Params, flatten
from depthpipe.data.prepared.build import prepare_source
from depthpipe.data.sources.raw_folder import SOURCE_JSON, open_raw
from depthpipe.files import read_json
from depthpipe.stage_runner import run_stage
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Prepare ``data/raw`` into ``data/prepared`` (``prepare`` and ``data.class_mapping``) and log the run."""
    raw, prepared = paths.raw, paths.prepared
    source = read_json(raw / SOURCE_JSON, "the download stage's output")
    sha = source["data_sha256"]
    with open_raw(raw, source["source"]) as frames:
        summary = prepare_source(
            frames,
            paths.root / params.data.class_mapping,
            prepared,
            params.prepare,
            source_sha256=sha,
            source=source.get("source", ""),
        )
    tags = stage_tags("prepare", None, source.get("source"), sha or None)
    figures = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    runs.log_stage("prepare", flatten({"prepare": params.prepare}), figures, tags, [prepared / "manifest.csv"])
    print(f"prepare: {summary}")


if __name__ == "__main__":
    run_stage("prepare", main)
