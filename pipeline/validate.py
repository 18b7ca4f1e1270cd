"""DVC stage `validate`: great-expectations checks on per-frame statistics; bad data stops the pipeline."""

import sys
from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> int:
    from depthpipe import tracking
    from depthpipe.config import flatten
    from depthpipe.data.frames import SOURCE_JSON, open_raw
    from depthpipe.data.validate import failure_lines, validate_source
    from depthpipe.io import read_json

    raw, reports = workspace / "data" / "raw", workspace / "reports"
    source = read_json(raw / SOURCE_JSON, "the download stage's output")
    with open_raw(raw, source["source"]) as frames:
        report = validate_source(frames, params.validate_, reports / "validation.json", reports / "frame_stats.csv")
    figures = {k: report[k] for k in ("frames", "train_frames", "test_frames", "evaluated_expectations",
                                      "successful_expectations")}
    tracking.log_stage("validate", flatten({"validate": params.validate_}), figures | {"success": report["success"]},
                       tracking.stage_tags("validate", None, None, None),
                       [reports / "validation.json", reports / "frame_stats.csv"], failed=not report["success"])
    if not report["success"]:
        for line in failure_lines(report):
            print(line, file=sys.stderr)
        print("validate: data rejected, see reports/validation.json", file=sys.stderr)
        return 1
    print(f"validate: {report['frames']} frames passed {report['evaluated_expectations']} expectations")
    return 0


if __name__ == "__main__":
    run_stage("validate", main)
