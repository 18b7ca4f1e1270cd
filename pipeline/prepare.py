"""DVC stage `prepare`: split, resize and build reciprocal-depth targets -> data/prepared/{train,test}.h5."""

import json
from pathlib import Path

from depthpipe.stage import run_stage


def main(params: dict, root: Path) -> int:
    from depthpipe.data.prepare import prepare_dataset

    raw = root / "data" / "raw"
    source = json.loads((raw / "source.json").read_text())
    summary = prepare_dataset(raw / "labeled.mat", raw / "splits.mat", root / params["data"]["class_mapping"],
                              root / "data" / "prepared", params["prepare"],
                              source_sha256=source.get("labeled_sha256", ""), source=source.get("source", ""))
    print(f"prepare: {summary}")
    return 0


if __name__ == "__main__":
    run_stage("prepare", main)
