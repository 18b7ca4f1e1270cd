"""DVC stage `download`: the labeled NYU file (official download, a user's file, or synthetic) -> data/raw/."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> None:
    from depthpipe import tracking
    from depthpipe.config import flatten
    from depthpipe.data.source import materialise_source
    from depthpipe.io import write_json_atomic

    out = workspace / "data" / "raw"
    summary = materialise_source(params.data, workspace, out)
    write_json_atomic(out / "source.json", summary)
    tags = tracking.stage_tags("download", None, summary["source"], summary["data_sha256"])
    counts = {k: summary[k] for k in ("frames", "train", "test", "data_bytes")}
    tracking.log_stage("download", flatten({"data": params.data}), counts, tags, [out / "source.json"])
    print(f"download: {summary['source']}, {summary['frames']} frames -> {out}")


if __name__ == "__main__":
    run_stage("download", main)
