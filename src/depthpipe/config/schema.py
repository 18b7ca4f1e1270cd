"""The one typed schema of ``params.yaml``: a frozen pydantic section per part of the pipeline.

``params.yaml`` is composed by DVC's Hydra integration from ``conf/config.yaml`` and the recipe group
``conf/recipe/<name>.yaml`` (``dvc exp run -S recipe=paper``), so it always holds the values a run uses.
Every value is required here: the defaults live in ``conf/`` alone. Reading and checking the file:
:mod:`depthpipe.config.loading`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from depthpipe.errors import DepthpipeError

PARAMS_FILE = "params.yaml"
VARIANTS: tuple[str, ...] = ("densedepth", "semantic_booster")
BACKBONES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50")
INPUT_MULTIPLE = 32  # both encoders downsample by 32

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
# YAML has no tuples: a [height, width] list of integers.
Size = Annotated[tuple[StrictInt, StrictInt], Field(strict=False)]


class Section(BaseModel):
    """A params section: every key required, no unknown keys, no NaN/inf, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# ------------------------------------------------------------------------------------------------ data
class NYUDownload(Section):
    url: Annotated[str, Field(pattern=r"^https?://[^/]+/.*[^/]$")]
    size: PositiveInt | None
    sha256: Sha256 | None
    cache_dir: Annotated[str, Field(min_length=1)]
    retries: Annotated[int, Field(ge=0, le=100)]
    backoff_s: NonNegativeFloat
    timeout_s: PositiveFloat


class NYUTestZip(NYUDownload):
    """``data.nyu_test``: DenseDepth's ``nyu_test.zip``, the test split its evaluate.py scores (nyu50k only)."""

    use: bool  # true: the test split comes from nyu_test.zip, and validate compares it with nyu_data.zip's
    file: Annotated[str, Field(min_length=1)]  # a nyu_test.zip you have; data/external (the default): download url


class SyntheticData(Section):
    frames: Annotated[int, Field(ge=2, le=65535)]
    seed: NonNegativeInt
    test_fraction: Annotated[float, Field(gt=0, lt=1)]


LABELED_SOURCES: tuple[str, ...] = ("synthetic", "nyu", "file")  # one NYU-layout labeled .mat
RAW_SOURCES: tuple[str, ...] = ("nyu50k", "nyu_h5_tree")  # the raw-derived training sets (no labels)


EXTERNAL_DIR = "data/external"  # data.file's default: a folder of the repo standing for "nothing given"


class DataConfig(Section):
    source: Literal["synthetic", "nyu", "file", "nyu50k", "nyu_h5_tree"]
    file: Annotated[str, Field(min_length=1)]  # always a real path: DVC tracks its content (a dvc.yaml dependency)
    splits_file: Annotated[str, Field(min_length=1)]
    class_mapping: Annotated[str, Field(min_length=1)]
    nyu: NYUDownload
    nyu50k: NYUDownload
    nyu_h5_tree: NYUDownload
    nyu_test: NYUTestZip
    synthetic: SyntheticData

    @model_validator(mode="after")
    def _file_named(self) -> DataConfig:
        if self.source == "file" and self.given_file is None:
            raise ValueError("data.file must name a NYU-layout labeled .mat when data.source is file")
        if self.nyu_test.use and self.source != "nyu50k":
            raise ValueError(
                f"data.nyu_test.use is true but data.source is {self.source}: DenseDepth's nyu_test.zip replaces "
                f"the test split of nyu50k only"
            )
        return self

    @property
    def given_test_file(self) -> str | None:
        """``data.nyu_test.file`` when it names a ``nyu_test.zip`` the user has; None for the default folder."""
        return None if Path(self.nyu_test.file) == Path(EXTERNAL_DIR) else self.nyu_test.file

    @property
    def given_file(self) -> str | None:
        """``data.file`` when it names data the user has; None for the default folder (then nothing is given, and
        the sources that can download do)."""
        return None if Path(self.file) == Path(EXTERNAL_DIR) else self.file

    def download_of(self, source: str) -> NYUDownload:
        """The download settings of ``source`` (``nyu``, ``nyu50k`` or ``nyu_h5_tree``)."""
        return {"nyu": self.nyu, "nyu50k": self.nyu50k, "nyu_h5_tree": self.nyu_h5_tree}[source]


# -------------------------------------------------------------------------------------- validate, prepare
class ValidateConfig(Section):
    """``validate``: the checks on ``data/raw``; valid depths lie in (0, ``prepare.max_depth``]."""

    min_valid_fraction: Fraction
    max_label: PositiveInt
    expected_frames: PositiveInt | None
    expected_test_frames: PositiveInt | None
    frame_size: Size | None
    # nyu_data.zip's test PNGs against nyu_test.zip's depths, when both are in data/raw: the largest difference
    # allowed in any pixel, in mm; null: compare and report, never reject
    test_sets_max_diff_mm: NonNegativeFloat | None


class PrepareConfig(Section):
    """``prepare``; ``max_depth`` is the pipeline's one depth range: the reciprocal target is
    ``max_depth / depth``, validate rejects depths beyond it and evaluate scores depths up to it."""

    input_size: Size
    output_scale: Annotated[float, Field(gt=0, le=1)]
    min_depth: PositiveFloat
    max_depth: PositiveFloat
    chunk_frames: PositiveInt
    workers: NonNegativeInt
    layout: Literal["arrays", "encoded"]
    rgb_codec: Literal["jpeg", "png"]
    jpeg_quality: Annotated[int, Field(ge=1, le=100)]
    # area: valid depths averaged in metres, then max_depth / clip(depth, min_depth, max_depth) | densedepth: as
    # DenseDepth's data.py, max_depth / depth at full resolution, then skimage's anti-aliased resize
    target_resize: Literal["area", "densedepth"]

    @model_validator(mode="after")
    def _sizes(self) -> PrepareConfig:
        if any(v < INPUT_MULTIPLE or v % INPUT_MULTIPLE for v in self.input_size):
            raise ValueError(
                f"prepare.input_size must be [height, width], each a multiple of {INPUT_MULTIPLE} "
                f"(got {list(self.input_size)})"
            )
        if self.min_depth >= self.max_depth:
            raise ValueError(
                f"prepare.min_depth must be below prepare.max_depth (got {self.min_depth:g} >= {self.max_depth:g})"
            )
        return self

    @property
    def output_size(self) -> tuple[int, int]:
        """Target resolution: ``input_size * output_scale``, rounded."""
        h, w = self.input_size
        return max(1, round(h * self.output_scale)), max(1, round(w * self.output_scale))


# ------------------------------------------------------------------------------------------------ models
EncoderWeights = Annotated[str, Field(min_length=1, description="none | imagenet | <path to a state dict>")]
DecoderWidth = Annotated[float, Field(ge=0.01, le=2.0, description="decoder channels, 1.0 = the paper's")]


class DenseDepthModel(Section):
    decoder_width: DecoderWidth
    encoder_weights: EncoderWeights


class SemanticBoosterModel(Section):
    backbone: Literal["resnet18", "resnet34", "resnet50"]
    encoder_weights: EncoderWeights
    lsu: bool
    num_classes: PositiveInt
    decoder_width: DecoderWidth


class ModelsConfig(Section):
    densedepth: DenseDepthModel
    semantic_booster: SemanticBoosterModel


# ------------------------------------------------------------------------------------------------- train
class Augment(Section):
    hflip_p: Fraction  # probability of mirroring a sample (0.5: DenseDepth)
    # probability of drawing a channel order for a sample (else it keeps RGB): 0.5 in DenseDepth's code
    channel_swap_p: Fraction
    # what is drawn: permutations = one of the 6 orders, identity included (DenseDepth's PyTorch port);
    # basic_policy = one of the 7 entries of its augment.py BasicPolicy (RGB, then the 6 orders: RGB twice)
    channel_orders: Literal["permutations", "basic_policy"]


class DenseDepthLossWeights(Section):
    w_ssim: NonNegativeFloat
    w_grad: NonNegativeFloat
    w_l1: NonNegativeFloat
    ssim_range: PositiveFloat  # SSIM data range on the reciprocal target (DenseDepth's code: 1000/10 = 100)


class SemanticBoosterLossWeights(Section):
    w_depth: NonNegativeFloat
    w_semantic: NonNegativeFloat
    w_grad: NonNegativeFloat
    focal_alpha: NonNegativeFloat
    focal_gamma: NonNegativeFloat


class TrainConfig(Section):
    """``train.<variant>``: optimisation, schedule, augmentation, precision and processes of one variant."""

    epochs: PositiveInt
    batch_size: PositiveInt
    optimizer: Literal["adam", "adamw"]
    amsgrad: bool  # the AMSGrad variant of either (DenseDepth's Keras training: Adam with amsgrad=True)
    lr: PositiveFloat
    lr_scaling: Literal["none", "linear"]
    base_batch_size: PositiveInt
    weight_decay: NonNegativeFloat
    schedule: Literal["none", "cosine", "step"]
    step_size: PositiveInt
    gamma: Annotated[float, Field(gt=0, le=1)]
    seed: NonNegativeInt
    val_fraction: Annotated[float, Field(ge=0, lt=1)]
    augment: Augment
    device: Literal["auto", "cpu", "cuda"]
    precision: Literal["auto", "bf16", "fp32"]
    channels_last: bool
    compile: bool
    workers: NonNegativeInt
    sync_bn: bool
    nproc_per_node: PositiveInt
    nnodes: PositiveInt
    rdzv_endpoint: Annotated[str, Field(pattern=r"^[^:\s]+:\d+$")]


class DenseDepthTrain(TrainConfig):
    loss: DenseDepthLossWeights


class SemanticBoosterTrain(TrainConfig):
    loss: SemanticBoosterLossWeights


class TrainSection(Section):
    densedepth: DenseDepthTrain
    semantic_booster: SemanticBoosterTrain


# ------------------------------------------------------------------------------ evaluate, export, gate
class EvaluateConfig(Section):
    """``evaluate``; depths are scored in [``min_depth``, ``prepare.max_depth``]."""

    protocols: Annotated[list[Literal["standard", "densedepth"]], Field(min_length=1)]
    crop: Literal["eigen", "none"]
    min_depth: PositiveFloat
    flip_tta: bool
    batch_size: PositiveInt
    grid_frames: PositiveInt
    depth_bins: Annotated[list[float], Field(min_length=2)]

    @model_validator(mode="after")
    def _ranges(self) -> EvaluateConfig:
        if any(b >= c for b, c in zip(self.depth_bins, self.depth_bins[1:])):
            raise ValueError(f"evaluate.depth_bins must be increasing (got {self.depth_bins})")
        if len(set(self.protocols)) != len(self.protocols):
            raise ValueError(f"evaluate.protocols lists a protocol twice (got {self.protocols})")
        return self


class ExportConfig(Section):
    tolerance: NonNegativeFloat
    opset: Annotated[int, Field(ge=13, le=23)]
    parity_frames: PositiveInt
    onnx: bool
    register_model: Annotated[bool, Field(alias="register")]


GatedMetric = Literal[
    "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3", "miou", "pixel_acc"
]


class GateConfig(Section):
    """``gate``: read by ``depthpipe gate`` (a paired bootstrap over the per-frame evidence), not by a stage."""

    abs_tol: NonNegativeFloat
    rel_tol: NonNegativeFloat
    metrics: Annotated[list[GatedMetric], Field(min_length=1)]
    resamples: Annotated[int, Field(ge=100, le=1_000_000)]
    confidence: Annotated[float, Field(ge=0.5, lt=1)]
    seed: NonNegativeInt
    tolerance: Literal["fixed", "seeds"]


# -------------------------------------------------------------------------------------------------- root
class Params(Section):
    """The whole of ``params.yaml``."""

    recipe: Annotated[str, Field(min_length=1)]
    data: DataConfig
    validate_: Annotated[ValidateConfig, Field(alias="validate")]
    prepare: PrepareConfig
    models: ModelsConfig
    train: TrainSection
    evaluate: EvaluateConfig
    export: ExportConfig
    gate: GateConfig

    @model_validator(mode="after")
    def _evaluated_depths(self) -> Params:
        if self.evaluate.min_depth >= self.prepare.max_depth:
            raise ValueError(
                f"evaluate.min_depth must be below prepare.max_depth "
                f"(got {self.evaluate.min_depth:g} >= {self.prepare.max_depth:g})"
            )
        return self

    def train_config(self, variant: str) -> DenseDepthTrain | SemanticBoosterTrain:
        """``train.<variant>``."""
        return getattr(self.train, _variant(variant))

    def model_config_of(self, variant: str) -> DenseDepthModel | SemanticBoosterModel:
        """``models.<variant>``."""
        return getattr(self.models, _variant(variant))


def _variant(name: str) -> str:
    if name not in VARIANTS:
        raise DepthpipeError(f"unknown model variant {name!r} (one of {', '.join(VARIANTS)})")
    return name
