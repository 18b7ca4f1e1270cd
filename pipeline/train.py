"""DVC stage `train@<variant>`: train one model variant -> models/<variant>/ (torchrun when nproc_per_node > 1)."""

from depthpipe.stages import train
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("train", train.main)
