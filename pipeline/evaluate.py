"""DVC stage `evaluate@<variant>`: test-split metrics vs full-resolution ground truth -> metrics/<variant>.json."""

from depthpipe.stages import evaluate
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("evaluate", evaluate.main)
