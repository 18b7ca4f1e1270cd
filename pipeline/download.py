"""DVC stage `download`: the labeled NYU file (official download, a user's file, or synthetic) -> data/raw/."""

from pathlib import Path

from depthpipe.stage import run_stage


def main(params: dict, root: Path) -> int:
    from depthpipe.data.source import materialise_source
    from depthpipe.io import write_json_atomic

    out = root / "data" / "raw"
    summary = materialise_source(params["data"], root, out)
    write_json_atomic(out / "source.json", summary)
    print(f"download: {summary['source']}, {summary['frames']} frames -> {out}")
    return 0


if __name__ == "__main__":
    run_stage("download", main)
