#!/usr/bin/env bash
# The paper recipe's numbers on one GPU, in at most 8 minutes (GPU_CHECK_LIMIT_S, default 480):
#
#   1. train images/s of both variants at paper size (DenseDepth width 1.0, booster ResNet-50, batch 8) at
#      240x320 and 480x640, with FLOPs/image, achieved TFLOP/s and % of the GPU's dense bf16 peak
#      (benchmarks/train_throughput.py, whose docstring names the modes): eager in true fp32 with and without the
#      train stage's deterministic kernels, TF32 and bf16 (channels_last, with and without them); then, with what
#      is left of part 1's share, paper size first, bf16 under CUDA graphs (torch.compile reduce-overhead) and
#      under plain torch.compile (one compilation of a training step took about 4 min on an H200 machine's 16
#      cores: not all of them fit);
#   2. the DataLoader's wait as a share of the step with 4 and 8 workers on the encoded layout (synthetic
#      frames JPEG/PNG-encoded as the 50K set is, decoded and resized in the workers; made first, before part 1,
#      so that part 1 cannot use up their time), both variants, at 256x320 and 480x640 (the prepare stage takes
#      multiples of 32 only);
#   3. one short paper-shaped run through `dvc exp run` (recipe paper: amsgrad, fp32, BasicPolicy, 480x640,
#      encoded layout, both protocols) on synthetic 480x640 frames, every stage of both variants
#      (GPU_CHECK_RUN_TARGET names one stage instead), in a throw-away copy of the repository, with its MLflow runs.
#
#     benchmarks/gpu_check.sh [--out DIR]          # on a machine with a CUDA GPU; refuses to start without one
#     benchmarks/gpu_check.sh --smoke [--out DIR]  # every size shrunk, on the CPU: checks the script itself runs
#         (its dvc run stops after the check stage; GPU_CHECK_RUN_TARGET=evaluate@densedepth runs a variant's chain,
#         about 1.5 min on 2 cores, and GPU_CHECK_RUN_TARGET= every stage, about 2.5 min)
#
# Run from anywhere; it works in the repository it sits in. Python: .venv when it has what the pipeline needs;
# else python3 with the wheels in wheelhouse/ (benchmarks/gpu_wheelhouse.py builds them for a machine that
# reaches no package registry) installed beside its own packages, in a temporary folder; else .venv built with
# `make venv` when there is none and pip can reach its index; else python3 as it is. Each part gets a share of
# what is left of the time limit and is stopped there; whatever it printed stands. MLflow runs go where
# MLFLOW_TRACKING_URI says, else into the copy's own mlflow.db. Prints Markdown tables; with --out DIR, part 3's
# dvc.lock, metrics, MLflow store and log are copied there too.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

SMOKE=0
RESULTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --out)
      [ $# -ge 2 ] || { echo "gpu_check: --out needs a folder" >&2; exit 2; }
      [ -d "$2" ] || { echo "gpu_check: --out $2: no such folder" >&2; exit 2; }
      RESULTS=$(cd "$2" && pwd); shift ;;
    -h|--help) awk 'NR > 1 && /^set -uo/ {exit} NR > 1' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (use --smoke, --out DIR or nothing)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$SMOKE" = 0 ] && ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }; then
  echo "gpu_check: no CUDA device here (nvidia-smi lists no GPU); run it on a GPU machine, or with --smoke on a CPU" >&2
  exit 2
fi

LIMIT_S=${GPU_CHECK_LIMIT_S:-480}
START=$SECONDS
left() { echo $(( LIMIT_S - (SECONDS - START) )); }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

usable() {  # a Python that imports torch and what the measured code needs
  PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$1" -c 'import torch, torchvision, pydantic, h5py, yaml, scipy, PIL
import depthpipe.config, depthpipe.models, depthpipe.training.loader, depthpipe.data.prepared.build' >/dev/null 2>&1
}
BASE_PY=${GPU_CHECK_PYTHON:-python3}  # the machine's own Python (a GPU machine's has torch)
WHEELS=${GPU_CHECK_WHEELS:-wheelhouse}
SITE=""  # where the wheels go, beside BASE_PY's own packages
PY=""
if [ -x .venv/bin/python ] && usable .venv/bin/python; then
  PY=.venv/bin/python
elif compgen -G "$WHEELS/*.whl" >/dev/null && command -v "$BASE_PY" >/dev/null 2>&1; then
  # no index and no resolution: exactly these wheels, at the versions benchmarks/gpu_wheelhouse.py pinned
  if "$BASE_PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
      --target "$WORK/site" "$WHEELS"/*.whl >"$WORK/wheels.log" 2>&1; then
    SITE="$WORK/site"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH"
    echo "gpu_check: $(compgen -G "$WHEELS/*.whl" | wc -l) wheels of $WHEELS installed beside $BASE_PY's packages"
    usable "$BASE_PY" && PY=$BASE_PY
  else
    echo "gpu_check: installing $WHEELS/*.whl failed (last line: $(tail -n 1 "$WORK/wheels.log")); trying without"
  fi
  START=$SECONDS
elif [ ! -x .venv/bin/python ] && [ "$SMOKE" = 0 ] && command -v make >/dev/null 2>&1; then
  echo "gpu_check: building .venv (make venv, at most 5 min, outside the time limit)"
  timeout 300 make venv >"$WORK/venv.log" 2>&1 && usable .venv/bin/python && PY=.venv/bin/python \
    || echo "gpu_check: make venv failed (last line: $(tail -n 1 "$WORK/venv.log")); trying $BASE_PY"
  START=$SECONDS
fi
if [ -z "$PY" ] && command -v "$BASE_PY" >/dev/null 2>&1 && usable "$BASE_PY"; then
  PY=$BASE_PY
fi
if [ -z "$PY" ]; then
  echo "gpu_check: no Python with torch and depthpipe's requirements (build .venv with make venv, or a wheelhouse" \
    "with benchmarks/gpu_wheelhouse.py)" >&2
  exit 2
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false
if [ "$SMOKE" = 0 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: $PY's torch sees no CUDA device (torch.cuda.is_available() is False); nothing measured" >&2
  exit 2
fi

if [ "$SMOKE" = 1 ]; then  # every size shrunk: the script's own check, on a CPU, in well under a minute
  SIZES="64x96"; FULL="96x128"; FRAMES=8; BATCH=2; STEPS=1; WARMUP=1; MODES="fp32 fp32-det bf16-cl"
  COMPILE=""; COMPILE_SIZES=""; DATA_SIZES="64x96"
  WORKERS="1 2"; VARIANTS="densedepth"; PAPER=""; DATA_WORKERS=1; TARGET=${GPU_CHECK_RUN_TARGET-check}
  DATA_MODE=fp32  # part 2's steps: a CPU without native bf16 emulates it, several times slower
  RUN_S=(-S recipe=paper -S data.synthetic.frames=8 -S prepare.input_size=[64,96] -S prepare.workers=1
         -S models.densedepth.decoder_width=0.25 -S train.densedepth.batch_size=2 -S train.densedepth.workers=0
         -S train.densedepth.device=cpu -S train.semantic_booster.batch_size=2 -S train.semantic_booster.workers=0
         -S train.semantic_booster.device=cpu)
else
  SIZES="240x320 480x640"; FULL="480x640"; FRAMES=224; BATCH=8; STEPS=10; WARMUP=3  # 25 train batches: no epoch ends
  MODES="fp32 fp32-det tf32-cl bf16-cl bf16-cl-det"; WORKERS="4 8"; VARIANTS="densedepth semantic_booster"
  PAPER="--paper"; COMPILE="bf16-cl-graphs bf16-cl-compile"; COMPILE_SIZES="480x640 240x320"
  DATA_SIZES="256x320 480x640"
  DATA_WORKERS=16; TARGET=${GPU_CHECK_RUN_TARGET-}; DATA_MODE=bf16-cl  # empty: every stage
  RUN_S=(-S recipe=paper -S data.synthetic.frames=48 -S prepare.workers=8)
fi
# part 2's frames first, in at most DATA_S (about 80 s on an H200 machine: 26 s of rendering, 27 s per 480x640
# preparation); then what parts 2 and 3 keep of the limit while part 1 runs, whose torch.compile rows take the rest
DATA_S=$(( LIMIT_S * 20 / 100 )); RESERVE_2=$(( LIMIT_S * 15 / 100 )); RESERVE_3=$(( LIMIT_S * 40 / 100 ))
[ -n "$TARGET" ] && RESERVE_3=$(( LIMIT_S * 25 / 100 ))  # one variant's chain, or less
# part 3 needs dvc and the pipeline's requirements: decided now, so that a part 3 that will be skipped keeps no time
PYDIR=$(cd "$(dirname "$(command -v "$PY")")" && pwd)
DVC="$PYDIR/dvc"
[ -x "$DVC" ] || DVC=$(command -v dvc || true)
RUN_3=1
# (found, not imported: importing great_expectations alone takes seconds; a broken install shows in part 3's log)
if [ -z "$DVC" ] || ! "$PY" -c 'import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("mlflow", "great_expectations", "hydra")))' >/dev/null 2>&1; then
  RUN_3=0; RESERVE_3=0
fi
# shared by both: synthetic frames, no downloads (nothing may be reachable), one epoch
RUN_S+=(-S data.source=synthetic -S data.nyu_test.use=false -S validate.expected_frames=null
        -S validate.expected_test_frames=null -S models.densedepth.encoder_weights=none -S train.densedepth.epochs=1
        -S models.semantic_booster.encoder_weights=none -S train.semantic_booster.epochs=1)

section() { echo; echo "## $1 ($(left) s left of ${LIMIT_S} s)"; echo; }
limited() {  # limited RESERVE_S COMMAND...: run it until RESERVE_S before the limit (the later parts' time)
  local reserve=$1; shift
  local t=$(( $(left) - reserve )) all
  all=$(left)
  [ "$t" -lt 10 ] && t=$(( all < 10 ? all : 10 ))
  if [ "$t" -le 0 ]; then echo "(skipped: the time limit is reached)"; return 124; fi
  timeout --kill-after=5 "$t" "$@"
  local rc=$?
  [ "$rc" = 124 ] && echo "(stopped at its share of the time limit, ${t} s)"
  return "$rc"
}

# part 2's frames (CPU only, before anything is timed), shown in part 2
# shellcheck disable=SC2086
limited $(( $(left) - DATA_S )) "$PY" benchmarks/gpu_check_data.py "$WORK/frames" --frames "$FRAMES" --full "$FULL" \
  --sizes $DATA_SIZES --workers "$DATA_WORKERS" >"$WORK/data.log" 2>&1
DATA_RC=$?

section "1. train images/s, TFLOP/s and % of the dense bf16 peak (batch $BATCH, medians of 1 x $STEPS steps)"
# shellcheck disable=SC2086
limited $(( RESERVE_2 + RESERVE_3 )) "$PY" benchmarks/train_throughput.py $PAPER --variants $VARIANTS \
  --sizes $SIZES --batch "$BATCH" --modes $MODES --steps "$STEPS" --repeats 1 --warmup "$WARMUP"
for size in $COMPILE_SIZES; do  # one process per size and mode, fp32 again for the ratio (its row is left out)
  for mode in $COMPILE; do
    if [ $(( $(left) - RESERVE_2 - RESERVE_3 )) -lt 30 ]; then
      echo "($mode at $size skipped: under 30 s of part 1's share left)"
      continue
    fi
    # shellcheck disable=SC2086
    limited $(( RESERVE_2 + RESERVE_3 )) "$PY" benchmarks/train_throughput.py $PAPER --variants $VARIANTS \
      --sizes "$size" --batch "$BATCH" --modes fp32 "$mode" --steps "$STEPS" --repeats 1 --warmup "$WARMUP" \
      | grep -v '^device \|^| variant \|^| --- \|^| [a-z_]* | [0-9x]* | fp32 |'
  done
done

section "2. data-loader wait, encoded layout ($DATA_MODE steps)"
cat "$WORK/data.log"
# shellcheck disable=SC2086
N_SIZES=$(echo $DATA_SIZES | wc -w)
if [ "$DATA_RC" = 0 ]; then
  echo "| variant | input | mode | img/s | vs fp32 | GFLOP/img | TFLOP/s | % bf16 peak | data wait | paper h |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  i=0
  for size in $DATA_SIZES; do
    i=$(( i + 1 ))
    reserve=$(( RESERVE_2 * (N_SIZES - i) / N_SIZES + RESERVE_3 ))  # the next sizes' and part 3's
    # shellcheck disable=SC2086
    limited "$reserve" "$PY" benchmarks/train_throughput.py $PAPER --variants $VARIANTS --sizes "$size" \
      --batch "$BATCH" --modes "$DATA_MODE" --steps $(( STEPS * 2 )) --repeats 1 --warmup "$WARMUP" \
      --prepared "$WORK/frames/$size/train.h5" --workers $WORKERS | grep -v '^device \|^| variant \|^| --- '
  done
fi

section "3. a short paper-shaped run through dvc exp run ${TARGET:-(every stage)} (synthetic 480x640 frames, 1 epoch)"
if [ "$RUN_3" = 0 ]; then
  echo "skipped: $PY has no dvc, mlflow, great_expectations or hydra (the pipeline's own requirements: make venv)"
else
  REPO="$WORK/repo"
  mkdir -p "$REPO/data/external" "$REPO/.dvc"
  cp -r dvc.yaml params.yaml .dvcignore .gitignore conf pipeline src "$REPO/"
  cp .dvc/config .dvc/.gitignore "$REPO/.dvc/"
  [ -f .dvc/plots_offline.html ] && cp .dvc/plots_offline.html "$REPO/.dvc/"
  cp data/splits.mat data/classMapping40.mat "$REPO/data/"
  cp data/external/README.md "$REPO/data/external/"
  find "$REPO/src" -name __pycache__ -prune -exec rm -rf {} +
  export GIT_AUTHOR_NAME=gpu_check GIT_AUTHOR_EMAIL=gpu_check@localhost GIT_COMMITTER_NAME=gpu_check \
    GIT_COMMITTER_EMAIL=gpu_check@localhost
  git -C "$REPO" init -q -b main && git -C "$REPO" add -A && git -C "$REPO" commit -qm "gpu_check copy"
  unset DVC_ROOT DEPTHPIPE_PIPELINE_RUN
  t0=$SECONDS
  mkdir -p "$WORK/bin"  # the stages run `python`: this one
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$PYDIR/$(basename "$PY")" >"$WORK/bin/python" && chmod +x "$WORK/bin/python"
  ( cd "$REPO" && export PATH="$WORK/bin:$PYDIR:$PATH" PYTHONPATH="$REPO/src${SITE:+:$SITE}" \
      && limited 0 "$DVC" exp run ${TARGET:+"$TARGET"} "${RUN_S[@]}" ) >"$WORK/run.log" 2>&1
  rc=$?
  grep -E "^Running stage|^train (densedepth|semantic_booster)|^evaluate |^export |^validate:|^check:" "$WORK/run.log"
  echo
  echo "| variant | exit | wall s (all stages) | train img/s | protocol | rmse (m) | abs_rel | delta1 | mIoU |"
  echo "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
  "$PY" - "$REPO" "$rc" "$(( SECONDS - t0 ))" "$WORK/run.log" "${TARGET:-every stage}" <<'EOF'
import json, re, sys
from pathlib import Path

repo, rc, wall, log, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]).read_text(), sys.argv[5]
files = sorted((repo / "metrics").glob("*.json"))
for f in files:
    rates = re.findall(rf"train {f.stem} epoch [^\n]*?([0-9.]+) img/s", log)
    rate = rates[-1] if rates else "-"
    for protocol, m in json.loads(f.read_text()).items():
        depth = [f"{m[k]:.3f}" if k in m else "-" for k in ("rmse", "abs_rel", "delta1")]
        miou = f"{m['miou']:.3f}" if "miou" in m else "-"
        print(f"| {f.stem} | {rc} | {wall} | {rate} | {protocol} | {' | '.join(depth)} | {miou} |")
if not files:
    print(f"| ({target}: no metrics) | {rc} | {wall} | - | - | - | - | - | - |")
db = repo / "mlflow.db"
if db.exists():
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time ASC"])
    print("\n| MLflow run | stage | variant | status | precision | metrics | params |")
    print("| --- | --- | --- | --- | --- | ---: | ---: |")
    for run in runs:
        tags = run.data.tags
        print(f"| {run.info.run_name} | {tags.get('depthpipe.stage', '-')} | {tags.get('depthpipe.variant', '-')} "
              f"| {run.info.status} | {tags.get('depthpipe.precision', '-')} | {len(run.data.metrics)} "
              f"| {len(run.data.params)} |")
EOF
  [ "$rc" = 0 ] || { echo; tail -n 15 "$WORK/run.log"; }
  if [ -n "$RESULTS" ]; then  # what the run left, for a look afterwards (the copy itself is removed on exit)
    cp "$WORK/run.log" "$RESULTS/gpu_check_run.log"
    for f in "$REPO/dvc.lock" "$REPO/mlflow.db" "$REPO"/metrics/*.json; do
      [ -f "$f" ] && cp "$f" "$RESULTS/"
    done
    echo; echo "gpu_check: part 3's log, dvc.lock, metrics and MLflow store are in $RESULTS"
  fi
fi
echo
echo "gpu_check: done in $(( SECONDS - START )) s (limit ${LIMIT_S} s)"
