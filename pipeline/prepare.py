"""DVC stage `prepare`: split, resize and build reciprocal-depth targets -> data/prepared/{train,test}.h5."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> None:
    from depthpipe.data.prepare import prepare_dataset
    from depthpipe.io import read_json

    raw = workspace / "data" / "raw"
    source = read_json(raw / "source.json", "the download stage's output")
    summary = prepare_dataset(raw / "labeled.mat", raw / "splits.mat", workspace / params.data.class_mapping,
                              workspace / "data" / "prepared", params.prepare,
                              source_sha256=source.get("labeled_sha256", ""), source=source.get("source", ""))
    print(f"prepare: {summary}")


if __name__ == "__main__":
    run_stage("prepare", main)
