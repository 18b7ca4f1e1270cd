"""DVC stage `prepare`: split, resize and build reciprocal-depth targets (or keep frames encoded) -> data/prepared/."""

from pathlib import Path

from depthpipe.config import Params
from depthpipe.stage import run_stage


def main(params: Params, workspace: Path) -> None:
    from depthpipe import tracking
    from depthpipe.config import flatten
    from depthpipe.data.frames import SOURCE_JSON, open_raw
    from depthpipe.data.prepare import prepare_source
    from depthpipe.io import read_json

    raw, prepared = workspace / "data" / "raw", workspace / "data" / "prepared"
    source = read_json(raw / SOURCE_JSON, "the download stage's output")
    sha = source["data_sha256"]
    with open_raw(raw, source["source"]) as frames:
        summary = prepare_source(frames, workspace / params.data.class_mapping, prepared, params.prepare,
                                 source_sha256=sha, source=source.get("source", ""))
    tags = tracking.stage_tags("prepare", None, source.get("source"), sha or None)
    figures = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    tracking.log_stage("prepare", flatten({"prepare": params.prepare}), figures, tags, [prepared / "manifest.csv"])
    print(f"prepare: {summary}")


if __name__ == "__main__":
    run_stage("prepare", main)
