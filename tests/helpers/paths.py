"""Where things are: the repository the tests run against and the files in it they read."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLASS_MAPPING = REPO / "data" / "classMapping40.mat"
SPLITS = REPO / "data" / "splits.mat"
