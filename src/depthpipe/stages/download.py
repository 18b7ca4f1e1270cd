"""Stage ``download``: the data ``data.source`` names (NYU, a user's file, or synthetic) in ``data/raw/``."""

from __future__ import annotations

from pathlib import Path

from depthpipe.config import Params, flatten
from depthpipe.data.download.materialise import materialise_source
from depthpipe.data.sources.raw_folder import SOURCE_JSON
from depthpipe.files import write_json_atomic
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags


def main(params: Params, workspace: Path) -> None:
    """Place the data and ``source.json`` (what it is, its sha256, frame counts) and log the stage run."""
    out = workspace / "data" / "raw"
    summary = materialise_source(params.data, workspace, out)
    write_json_atomic(out / SOURCE_JSON, summary)
    tags = stage_tags("download", None, summary["source"], summary["data_sha256"])
    counts = {k: summary[k] for k in ("frames", "train", "test", "data_bytes")}
    runs.log_stage("download", flatten({"data": params.data}), counts, tags, [out / SOURCE_JSON])
    print(f"download: {summary['source']}, {summary['frames']} frames -> {out}")
