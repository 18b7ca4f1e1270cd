"""DVC stage `validate`: great-expectations checks on per-frame statistics of data/raw; bad data stops the
pipeline -> reports/validation.json, reports/frame_stats.csv, and the stage's MLflow run."""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

import sys

from depthpipe.config import Params, flatten
from depthpipe.data.sources.raw_folder import SOURCE_JSON, open_raw, open_test_sets
from depthpipe.data.validation.set_agreement import comparison_lines
from depthpipe.data.validation.suite import failure_lines, validate_source
from depthpipe.files import read_json
from depthpipe.stage_runner import run_stage
from depthpipe.tracking import runs
from depthpipe.tracking.provenance import stage_tags
from depthpipe.workspace import WorkspacePaths

FIGURES = ("frames", "train_frames", "test_frames", "evaluated_expectations", "successful_expectations")


def main(params: Params, paths: WorkspacePaths) -> int:
    """Validate ``data/raw`` into the validation report and frame statistics; 1 when the data is rejected."""
    raw, report_path, stats_path = paths.raw, paths.validation_report, paths.frame_stats
    source = read_json(raw / SOURCE_JSON, "the download stage's output")
    pair = open_test_sets(raw, source["source"])  # nyu_data.zip and nyu_test.zip, when data/raw holds both
    with open_raw(raw, source["source"]) as frames:
        report = validate_source(
            frames, params.validate_, params.prepare.max_depth, report_path, stats_path, test_sets=pair
        )
    for test_set in pair or ():
        test_set.close()
    figures = {k: report[k] for k in FIGURES}
    if "test_sets" in report:
        compared = report["test_sets"]
        figures |= {"test_sets_max_diff_mm": compared["max_diff_mm"], "test_sets_agree": compared["success"]}
    runs.log_stage(
        "validate",
        flatten({"validate": params.validate_}),
        figures | {"success": report["success"]},
        stage_tags("validate", None, None, None),
        [report_path, stats_path],
        failed=not report["success"],
    )
    if not report["success"]:
        for line in failure_lines(report):
            print(line, file=sys.stderr)
        print("validate: data rejected, see reports/validation.json", file=sys.stderr)
        return 1
    if "test_sets" in report:
        print("\n".join(comparison_lines(report["test_sets"])))
    print(f"validate: {report['frames']} frames passed {report['evaluated_expectations']} expectations")
    return 0


if __name__ == "__main__":
    run_stage("validate", main)
