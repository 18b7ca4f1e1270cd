"""DVC stage `download`: the data `data.source` names (official NYU download, a user's file, or synthetic)
-> data/raw/, with source.json (what it is, its sha256, frame counts), and the stage's MLflow run."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

from depthpipe.config import Params, flatten
from depthpipe.data.download.materialise import materialise_source
from depthpipe.data.sources.raw_folder import SOURCE_JSON
from depthpipe.files import write_json_atomic
from depthpipe.stage_runner import run_stage
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Place the data and ``source.json`` in ``data/raw`` and log the stage run."""
    out = paths.raw
    summary = materialise_source(params.data, paths.root, out)
    write_json_atomic(out / SOURCE_JSON, summary)
    tags = stage_tags("download", None, summary["source"], summary["data_sha256"])
    counts = {k: summary[k] for k in ("frames", "train", "test", "data_bytes")}
    runs.log_stage("download", flatten({"data": params.data}), counts, tags, [out / SOURCE_JSON])
    print(f"download: {summary['source']}, {summary['frames']} frames -> {out}")


if __name__ == "__main__":
    run_stage("download", main)
