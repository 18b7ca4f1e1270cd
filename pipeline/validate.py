"""DVC stage `validate`: great-expectations checks on per-frame statistics; bad data stops the pipeline."""

import sys
from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> int:
    from depthpipe.data.validate import failure_lines, validate_dataset

    raw = workspace / "data" / "raw"
    report = validate_dataset(raw / "labeled.mat", raw / "splits.mat", params.validate_,
                              workspace / "reports" / "validation.json", workspace / "reports" / "frame_stats.csv")
    if not report["success"]:
        for line in failure_lines(report):
            print(line, file=sys.stderr)
        print("validate: data rejected, see reports/validation.json", file=sys.stderr)
        return 1
    print(f"validate: {report['frames']} frames passed {report['evaluated_expectations']} expectations")
    return 0


if __name__ == "__main__":
    run_stage("validate", main)
