"""DVC stage `check`: the whole params.yaml against the schema, and the MLflow store, before anything else runs.

Every other stage depends on its output, so DVC runs it first whenever any param changes, and a bad value
anywhere (a typo, a negative lr, an input size that is no multiple of 32), or a store out of reach, stops the
pipeline before DVC removes a single output. Its output is the same for every valid file (the sections
checked), so a change of params reruns only the stages that declare what changed.
"""

import gc

gc.disable()  # until run_stage: no collection while the libraries import (depthpipe.stage_runner)

from depthpipe.config import Params
from depthpipe.files import write_json_atomic
from depthpipe.stage_runner import run_stage
from depthpipe.workspace import WorkspacePaths


def main(params: Params, paths: WorkspacePaths) -> None:
    """Write ``reports/check.json``; :func:`~depthpipe.stage_runner.run_stage` has checked params and store."""
    sections = sorted(field.alias or name for name, field in type(params).model_fields.items())
    write_json_atomic(paths.check_report, {"params": "params.yaml", "sections": sections, "valid": True})
    print(f"check: params.yaml ({params.recipe} recipe) and the MLflow store are fine")


if __name__ == "__main__":
    run_stage("check", main)
