"""The pipeline's configuration: the typed schema of ``params.yaml`` and how it is read.

``from depthpipe.config import Params, load_config`` is the public face, with the section types library functions
take; the rest of the schema (the sub-sections, BACKBONES, INPUT_MULTIPLE, ...) is imported from
:mod:`depthpipe.config.schema`, reading and error messages live in :mod:`depthpipe.config.loading`, and composing
``params.yaml`` from ``conf/`` (Hydra, heavy: not imported here) in :mod:`depthpipe.config.composition`.
"""

from depthpipe.config.loading import flatten as flatten
from depthpipe.config.loading import load_config as load_config
from depthpipe.config.loading import parse as parse
from depthpipe.config.loading import with_changes as with_changes
from depthpipe.config.schema import PARAMS_FILE as PARAMS_FILE
from depthpipe.config.schema import RAW_SOURCES as RAW_SOURCES
from depthpipe.config.schema import VARIANTS as VARIANTS
from depthpipe.config.schema import DataConfig as DataConfig
from depthpipe.config.schema import DenseDepthModel as DenseDepthModel
from depthpipe.config.schema import DenseDepthTrain as DenseDepthTrain
from depthpipe.config.schema import EvaluateConfig as EvaluateConfig
from depthpipe.config.schema import GateConfig as GateConfig
from depthpipe.config.schema import NYUDownload as NYUDownload
from depthpipe.config.schema import Params as Params
from depthpipe.config.schema import PrepareConfig as PrepareConfig
from depthpipe.config.schema import SemanticBoosterModel as SemanticBoosterModel
from depthpipe.config.schema import SemanticBoosterTrain as SemanticBoosterTrain
from depthpipe.config.schema import ValidateConfig as ValidateConfig
