"""DVC stage `export@<variant>`: .pt2 + ONNX with a parity check on test frames -> exports/<variant>/."""

from depthpipe.stages import export
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("export", export.main)
