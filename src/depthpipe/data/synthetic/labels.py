"""The NYU label names the generator writes, and their ids looked up in ``classMapping40.mat``."""

from __future__ import annotations

import os

from depthpipe.data.sources.metadata import load_class_mapping
from depthpipe.errors import DepthpipeError

# The NYU label names the generator uses and the 40-class name each must map to in classMapping40.mat.
LABEL_CLASSES: dict[str, str] = {
    "wall": "wall",
    "floor": "floor",
    "ceiling": "ceiling",
    "cabinet": "cabinet",
    "bed": "bed",
    "chair": "chair",
    "sofa": "sofa",
    "table": "table",
    "door": "door",
    "window": "window",
    "bookshelf": "bookshelf",
    "picture": "picture",
    "counter": "counter",
    "blinds": "blinds",
    "desk": "desk",
    "shelves": "shelves",
    "curtain": "curtain",
    "dresser": "dresser",
    "pillow": "pillow",
    "mirror": "mirror",
    "floor mat": "floor mat",
    "books": "books",
    "refridgerator": "refridgerator",
    "television": "television",
    "paper": "paper",
    "box": "box",
    "whiteboard": "whiteboard",
    "night stand": "night stand",
    "sink": "sink",
    "lamp": "lamp",
    "bag": "bag",
    "stove": "otherstructure",
    "ottoman": "otherfurniture",
    "monitor": "otherprop",
    "keyboard": "otherprop",
    "plant": "otherprop",
    "microwave": "otherprop",
    "vase": "otherprop",
}


def label_ids(class_mapping: str | os.PathLike[str]) -> dict[str, int]:
    """The NYU id (1..894) of every name in :data:`LABEL_CLASSES`, looked up by name in ``classMapping40.mat``.

    Checks that the 40-class mapping sends each id to the expected 40-class name, so labels written with these
    ids come out as the right classes downstream.
    """
    lut, names40, names894 = load_class_mapping(class_mapping)
    if len(names894) != lut.size - 1:
        raise DepthpipeError(f"{class_mapping}: 'allClassName' lists {len(names894)} names, expected {lut.size - 1}")
    ids: dict[str, int] = {}
    for name, cls in LABEL_CLASSES.items():
        if name not in names894:
            raise DepthpipeError(f"{class_mapping}: NYU label name '{name}' not found in 'allClassName'")
        k = names894.index(name) + 1
        got = names40[int(lut[k]) - 1]
        if got != cls:
            raise DepthpipeError(
                f"{class_mapping}: NYU label '{name}' (id {k}) maps to 40-class '{got}', expected '{cls}'"
            )
        ids[name] = k
    return ids
