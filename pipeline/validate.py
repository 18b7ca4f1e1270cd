"""DVC stage `validate`: great-expectations checks on per-frame statistics; bad data stops the pipeline."""

from depthpipe.stages import validate
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("validate", validate.main)
