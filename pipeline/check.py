"""DVC stage `check`: the whole params.yaml and the MLflow store, checked before any output is touched."""

from depthpipe.stages import check
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("check", check.main)
