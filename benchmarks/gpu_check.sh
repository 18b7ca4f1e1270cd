#!/usr/bin/env bash
# The paper recipe's numbers on one GPU, in at most 8 minutes (GPU_CHECK_LIMIT_S, default 480):
#
#   1. train images/s of both variants at paper size (DenseDepth width 1.0, booster ResNet-50, batch 8) at
#      240x320 and 480x640 in fp32, bf16 + channels_last and bf16 + channels_last + torch.compile, with
#      FLOPs/image, achieved TFLOP/s and % of the GPU's dense bf16 peak (benchmarks/train_throughput.py); the
#      eager modes first, then torch.compile with what is left of part 1's share, paper size first (one
#      compilation of a training step took about 4 min on an H200 machine's 16 cores: not all four fit);
#   2. the DataLoader's wait as a share of the step with 4 and 8 workers on the encoded layout (synthetic
#      frames JPEG/PNG-encoded as the 50K set is, decoded and resized in the workers; made first, before part 1,
#      so that part 1 cannot use up their time), both variants, at 256x320 and 480x640 (the prepare stage takes
#      multiples of 32 only);
#   3. one short paper-shaped run through `dvc exp run` (recipe paper: amsgrad, fp32, BasicPolicy, 480x640,
#      encoded layout, both protocols) on synthetic 480x640 frames, in a throw-away copy of the repository.
#
#     benchmarks/gpu_check.sh            # on a machine with a CUDA GPU; refuses to start without one
#     benchmarks/gpu_check.sh --smoke    # every size shrunk, on the CPU: checks the script itself runs (its
#                                        # dvc run stops after the check stage: GPU_CHECK_RUN_TARGET=evaluate@densedepth
#                                        # runs the whole chain, about 1.5 min on 2 cores)
#
# Run from anywhere; it works in the repository it sits in. Python: .venv (built with `make venv` when missing
# and pip can reach its index), else a python3 that already has torch and depthpipe's requirements. Each part
# gets a share of what is left of the time limit and is stopped there; whatever it printed stands. MLflow runs go
# where MLFLOW_TRACKING_URI says, else into the copy's own mlflow.db. Prints Markdown tables.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$arg' (use --smoke or nothing)" >&2; exit 2 ;;
  esac
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
PY=""
if [ -x .venv/bin/python ] && usable .venv/bin/python; then
  PY=.venv/bin/python
elif [ ! -x .venv/bin/python ] && [ "$SMOKE" = 0 ] && command -v make >/dev/null 2>&1; then
  echo "gpu_check: building .venv (make venv, at most 5 min, outside the time limit)"
  timeout 300 make venv >"$WORK/venv.log" 2>&1 && usable .venv/bin/python && PY=.venv/bin/python \
    || echo "gpu_check: make venv failed (last line: $(tail -n 1 "$WORK/venv.log")); trying python3"
  START=$SECONDS
fi
if [ -z "$PY" ] && command -v python3 >/dev/null 2>&1 && usable python3; then
  PY=python3
fi
if [ -z "$PY" ]; then
  echo "gpu_check: no Python with torch and depthpipe's requirements (build .venv with make venv, or carry wheels)" >&2
  exit 2
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false
if [ "$SMOKE" = 0 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_check: $PY's torch sees no CUDA device (torch.cuda.is_available() is False); nothing measured" >&2
  exit 2
fi

if [ "$SMOKE" = 1 ]; then  # every size shrunk: the script's own check, on a CPU, in well under a minute
  SIZES="64x96"; FULL="96x128"; FRAMES=8; BATCH=2; STEPS=1; WARMUP=1; MODES="fp32 bf16-cl"
  COMPILE=""; COMPILE_SIZES=""; DATA_SIZES="64x96"
  WORKERS="1 2"; VARIANTS="densedepth"; PAPER=""; DATA_WORKERS=1; TARGET=${GPU_CHECK_RUN_TARGET:-check}
  DATA_MODE=fp32  # part 2's steps: a CPU without native bf16 emulates it, several times slower
  RUN_S=(-S recipe=paper -S data.synthetic.frames=8 -S prepare.input_size=[64,96] -S prepare.workers=1
         -S models.densedepth.decoder_width=0.25 -S train.densedepth.batch_size=2 -S train.densedepth.workers=0
         -S train.densedepth.device=cpu)
else
  SIZES="240x320 480x640"; FULL="480x640"; FRAMES=224; BATCH=8; STEPS=10; WARMUP=3  # 25 train batches: no epoch ends
  MODES="fp32 bf16-cl"; WORKERS="4 8"; VARIANTS="densedepth semantic_booster"; PAPER="--paper"
  COMPILE="bf16-cl-compile"; COMPILE_SIZES="480x640 240x320"; DATA_SIZES="256x320 480x640"
  DATA_WORKERS=16; TARGET=${GPU_CHECK_RUN_TARGET:-evaluate@densedepth}; DATA_MODE=bf16-cl
  RUN_S=(-S recipe=paper -S data.synthetic.frames=48 -S prepare.workers=8)
fi
# part 2's frames first, in at most DATA_S (about 80 s on an H200 machine: 26 s of rendering, 27 s per 480x640
# preparation); then what parts 2 and 3 keep of the limit while part 1 runs, whose torch.compile rows take the rest
DATA_S=$(( LIMIT_S * 20 / 100 )); RESERVE_2=$(( LIMIT_S * 15 / 100 )); RESERVE_3=$(( LIMIT_S * 25 / 100 ))
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
        -S validate.expected_test_frames=null -S models.densedepth.encoder_weights=none -S train.densedepth.epochs=1)

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
for size in $COMPILE_SIZES; do  # one process per size, fp32 again for the ratio (its row is left out)
  if [ $(( $(left) - RESERVE_2 - RESERVE_3 )) -lt 30 ]; then
    echo "($COMPILE at $size skipped: under 30 s of part 1's share left)"
    continue
  fi
  # shellcheck disable=SC2086
  limited $(( RESERVE_2 + RESERVE_3 )) "$PY" benchmarks/train_throughput.py $PAPER --variants $VARIANTS \
    --sizes "$size" --batch "$BATCH" --modes fp32 "$COMPILE" --steps "$STEPS" --repeats 1 --warmup "$WARMUP" \
    | grep -v '^device \|^| variant \|^| --- \|^| [a-z_]* | [0-9x]* | fp32 |'
done

section "2. data-loader wait, encoded layout ($DATA_MODE steps)"
cat "$WORK/data.log"
# shellcheck disable=SC2086
N_SIZES=$(echo $DATA_SIZES | wc -w)
if [ "$DATA_RC" = 0 ]; then
  echo "| variant | input | mode | img/s | vs fp32 | GFLOP/img | TFLOP/s | % bf16 peak | data wait |"
  echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
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

section "3. a short paper-shaped run through dvc exp run $TARGET (synthetic 480x640 frames, 1 epoch)"
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
  ( cd "$REPO" && export PATH="$WORK/bin:$PYDIR:$PATH" PYTHONPATH="$REPO/src" \
      && limited 0 "$DVC" exp run "$TARGET" "${RUN_S[@]}" ) >"$WORK/run.log" 2>&1
  rc=$?
  grep -E "^Running stage|^train densedepth|^evaluate densedepth|^validate:|^check:" "$WORK/run.log"
  echo
  echo "| run | exit | wall s | train img/s | densedepth protocol | rmse (m) | abs_rel | delta1 |"
  echo "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
  rate=$(grep -oE "[0-9.]+ img/s" "$WORK/run.log" | tail -n 1)
  if [ -f "$REPO/metrics/densedepth.json" ]; then
    "$PY" - "$REPO/metrics/densedepth.json" "$rc" "$(( SECONDS - t0 ))" "${rate:--}" <<'EOF'
import json, sys
metrics, rc, wall, rate = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
for name, m in metrics.items():
    print(f"| paper-shaped | {rc} | {wall} | {rate} | {name} | {m['rmse']:.3f} | {m['abs_rel']:.3f} | {m['delta1']:.3f} |")
EOF
  else
    echo "| paper-shaped ($TARGET) | $rc | $(( SECONDS - t0 )) | ${rate:--} | - | - | - | - |"
    [ "$rc" = 0 ] || { echo; tail -n 15 "$WORK/run.log"; }
  fi
fi
echo
echo "gpu_check: done in $(( SECONDS - START )) s (limit ${LIMIT_S} s)"
