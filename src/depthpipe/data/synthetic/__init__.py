"""Procedural indoor scenes in the NYU Depth v2 labeled layout: the default, offline data source.

Each frame is a box-shaped room (floor, four walls, ceiling) furnished according to its type (bedroom,
living room, office, kitchen) with furniture built from boxes rotated about the vertical axis and vertical
cylinders, plus planar wall objects (doors, windows with blinds or curtains, pictures, whiteboards, mirrors).
It is seen through the NYU Kinect RGB intrinsics from a camera 1.0-1.8 m above the floor with a small pitch
and roll, and rendered by vectorised numpy ray casting: the room is the exit of the ray from the room's slab,
every other primitive is a ray-box slab test (or a ray-cylinder test) restricted to its projected bounding
rectangle. The z-buffer holds the depth along the optical axis (the camera-frame z, like Kinect depth), not the
Euclidean ray length: rays are parametrised with a unit camera z component, so the ray parameter *is* that depth.

Depth is meant to be inferable from the image (a small CNN must learn it from a few hundred frames):

* geometry is physically consistent: rooms 2.45-2.95 m high, furniture of real sizes standing on the floor or
  against walls, a camera at a plausible height looking into the room;
* textures live in metres on the surfaces (floor tiles, planks and carpet tiles, ceiling tiles, baseboards,
  wallpaper stripes, books, wood grain), so they shrink with distance like perspective does;
* Lambertian shading from ceiling point lights with distance fall-off plus ambient, room-corner and contact
  darkening, and a mild distance-dependent darkening; slight sensor noise on top.

Everything is deterministic in ``(seed, index)``: a frame draws from ``np.random.default_rng([seed, index])``
only, so frames can be rendered in any order or in parallel and give the same bytes.

Per frame: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W) float32 metres, dense, in (0, 10]; ``raw_depth`` with
Kinect-like holes as 0 (shadow bands beside depth discontinuities, glass and dark screens, specular blobs,
beyond 9.5 m, speckle and a thin border: about 5-20 % of the pixels); ``label`` (H, W) uint16 NYU ids looked up
by name in ``classMapping40.mat`` (see :func:`label_ids`); ``instance`` (H, W) uint8 (per label, from 1);
``scene`` such as ``synthetic_bedroom_0003``.

:func:`write_synthetic` writes a NYU-layout labeled ``.mat`` (through
:class:`~depthpipe.data.sources.nyu_mat.NYULabeledWriter`) and a ``splits.mat``;
:func:`.figure.render_examples` draws the figure in ``docs/synthetic_examples.png`` (not imported here: the
download stage needs no matplotlib).

The modules, in the order a frame goes through them:

* :mod:`.room` builds a :class:`~.scene.Scene`: room type and size (``ROOM_TYPES``), the room's materials,
  camera pose (:mod:`.camera`) and lights; :mod:`.walls` adds doors, windows and pictures, :mod:`.furnishing`
  picks the furniture per room type from :mod:`.furniture`, :mod:`.kitchen` and :mod:`.props`, all placed by
  the :class:`~.builder.Builder` in colours from :mod:`.palettes`;
* :mod:`.geometry` casts the rays; :mod:`.shading` paints the decals and lights each pixel, with texture
  coordinates from :mod:`.texcoords`, albedo from :mod:`.materials` and noise from :mod:`.noise`;
* :mod:`.kinect` derives the raw depth; :mod:`.frame` assembles a :class:`SyntheticFrame`;
* :mod:`.writer` writes the set, :mod:`.labels` looks up the label ids, :mod:`.figure` draws the examples.
"""

from depthpipe.data.synthetic.camera import NYU_HEIGHT, NYU_INTRINSICS, NYU_WIDTH, intrinsics
from depthpipe.data.synthetic.frame import MAX_DEPTH, SyntheticFrame, render_frame
from depthpipe.data.synthetic.kinect import KINECT_BASELINE, KINECT_MAX_RANGE, KINECT_MIN_RANGE
from depthpipe.data.synthetic.labels import LABEL_CLASSES, label_ids
from depthpipe.data.synthetic.room import ROOM_TYPES
from depthpipe.data.synthetic.writer import split_indices, write_synthetic

__all__ = [
    "KINECT_BASELINE",
    "KINECT_MAX_RANGE",
    "KINECT_MIN_RANGE",
    "LABEL_CLASSES",
    "MAX_DEPTH",
    "NYU_HEIGHT",
    "NYU_INTRINSICS",
    "NYU_WIDTH",
    "ROOM_TYPES",
    "SyntheticFrame",
    "intrinsics",
    "label_ids",
    "render_frame",
    "split_indices",
    "write_synthetic",
]
