"""DVC stage `prepare`: split, resize and build reciprocal-depth targets -> data/prepared/{train,test}.h5."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> None:
    from depthpipe import tracking
    from depthpipe.config import flatten
    from depthpipe.data.prepare import prepare_dataset
    from depthpipe.io import read_json

    raw = workspace / "data" / "raw"
    source = read_json(raw / "source.json", "the download stage's output")
    prepared = workspace / "data" / "prepared"
    summary = prepare_dataset(raw / "labeled.mat", raw / "splits.mat", workspace / params.data.class_mapping,
                              prepared, params.prepare,
                              source_sha256=source.get("labeled_sha256", ""), source=source.get("source", ""))
    tags = tracking.stage_tags("prepare", None, source.get("source"), source.get("labeled_sha256"))
    figures = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    tracking.log_stage("prepare", flatten({"prepare": params.prepare}), figures, tags, [prepared / "manifest.csv"])
    print(f"prepare: {summary}")


if __name__ == "__main__":
    run_stage("prepare", main)
