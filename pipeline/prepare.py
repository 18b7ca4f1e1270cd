"""DVC stage `prepare`: split, resize and build reciprocal-depth targets (or keep frames encoded) -> data/prepared/."""

from depthpipe.stages import prepare
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("prepare", prepare.main)
