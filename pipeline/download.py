"""DVC stage `download`: the labeled NYU file (official download, a user's file, or synthetic) -> data/raw/."""

from depthpipe.stages import download
from depthpipe.stages.runner import run_stage

if __name__ == "__main__":
    run_stage("download", download.main)
