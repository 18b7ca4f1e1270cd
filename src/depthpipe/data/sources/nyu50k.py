"""DenseDepth's ``nyu_data.zip`` (the 50K raw-derived NYU set) read in place, one member at a time.

Layout (Alhashim and Wonka 2018): ``data/nyu2_train.csv`` and ``data/nyu2_test.csv`` list ``rgb,depth``
member pairs; train frames are ``data/nyu2_train/<scene>/<n>.jpg`` + ``<n>.png``, test frames
``data/nyu2_test/<nnnnn>_colors.png`` + ``<nnnnn>_depth.png``. Depth PNGs are read by the bit depth their
own header states, never by where they sit: 16-bit = millimetres; 8-bit = ``255 = 10 m`` (how the train
depths are stored), accepted in the train split only, because 8 bits quantise depth to 4 cm, too coarse for
ground truth. The frame list is the train CSV's rows in order, then the test CSV's. Members are read one
at a time from the archive (never the whole 4.1 GB into memory); a CSV row naming a missing member, a
corrupt member (bad CRC, truncated JPEG/PNG) or a wrong bit depth is a one-line error naming the member.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from depthpipe.data.codec import MM, decode_gray_png, decode_rgb, depth_metres
from depthpipe.data.sources.base import TEST, TRAIN, EncodedFrame, FrameSource, SourceFrame
from depthpipe.errors import DepthpipeError

TRAIN_CSV, TEST_CSV = "data/nyu2_train.csv", "data/nyu2_test.csv"
EIGHT_BIT_SCALE = 10.0 / 255  # metres per unit of an 8-bit train depth PNG (255 = 10 m)


def open_zip(path: Path) -> zipfile.ZipFile:
    """``path`` opened as a zip archive; a missing, truncated or corrupt file is one line naming it."""
    if not path.is_file():
        raise DepthpipeError(f"{path}: file not found")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DepthpipeError(f"{path}: not a readable zip archive, truncated or corrupt ({exc})") from None


class Nyu50kZip(FrameSource):
    """The frames of a ``nyu_data.zip``; see the module docstring."""

    kind, has_labels, handles = "nyu50k", False, ("_zip",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._zip: zipfile.ZipFile | None = None
        names = set(self._archive().namelist())
        self.rows: list[tuple[str, str]] = []
        self.splits: list[str] = []
        for split, csv_name in ((TRAIN, TRAIN_CSV), (TEST, TEST_CSV)):
            rows = self._read_csv(csv_name, names)
            self.rows += rows
            self.splits += [split] * len(rows)

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = open_zip(self.path)
        return self._zip

    def _read_csv(self, csv_name: str, names: set[str]) -> list[tuple[str, str]]:
        if csv_name not in names:
            raise DepthpipeError(
                f"{self.path}: missing member '{csv_name}' (a DenseDepth nyu_data.zip lists its "
                f"frames in {TRAIN_CSV} and {TEST_CSV})"
            )
        rows = []
        for line_no, line in enumerate(self._member(csv_name).decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 2 or not all(parts):
                raise DepthpipeError(
                    f"{self.path}: {csv_name} line {line_no}: expected 'rgb_member,depth_member', got {line.strip()!r}"
                )
            for member in parts:
                if member not in names:
                    raise DepthpipeError(
                        f"{self.path}: {csv_name} line {line_no} names '{member}', which is not in the archive"
                    )
            rows.append((parts[0], parts[1]))
        if not rows:
            raise DepthpipeError(f"{self.path}: {csv_name} lists no frames")
        return rows

    def _member(self, name: str) -> bytes:
        try:
            return self._archive().read(name)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise DepthpipeError(f"{self.path}: {name}: unreadable member ({exc})") from None

    def __len__(self) -> int:
        return len(self.rows)

    def membership(self) -> list[str]:
        return list(self.splits)

    def scene(self, i: int) -> str:
        parts = PurePosixPath(self.rows[i][0]).parts
        return parts[-2] if self.splits[i] == TRAIN and len(parts) >= 2 else ""

    def depth_scale(self, bits: int, split: str, where: str) -> float:
        """Metres per unit of a depth PNG of ``bits`` bits in ``split``."""
        if bits == 16:
            return MM
        if split == TEST:
            raise DepthpipeError(
                f"{where}: 8-bit depth PNG in the test split (test depth must be 16-bit "
                f"millimetres; 8 bits quantise the ground truth to 4 cm)"
            )
        return EIGHT_BIT_SCALE

    def frame(self, i: int) -> SourceFrame:
        rgb_member, depth_member = self.rows[i]
        rgb_bytes, depth_bytes = self._member(rgb_member), self._member(depth_member)
        rgb = decode_rgb(rgb_bytes, f"{self.path}: {rgb_member}")
        units, bits = decode_gray_png(depth_bytes, f"{self.path}: {depth_member}")
        scale = self.depth_scale(bits, self.splits[i], f"{self.path}: {depth_member}")
        if units.shape != rgb.shape[:2]:
            raise DepthpipeError(
                f"{self.path}: {depth_member}: depth is {units.shape[0]}x{units.shape[1]} but "
                f"{rgb_member} is {rgb.shape[0]}x{rgb.shape[1]}"
            )
        return SourceFrame(
            i,
            f"{self.path}: {rgb_member}",
            rgb,
            depth_metres(units, scale),
            None,
            EncodedFrame(rgb_bytes, depth_bytes, scale),
        )

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
