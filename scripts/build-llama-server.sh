#!/usr/bin/env bash
# Builds llama.cpp's llama-server (and llama-batched-bench) from the sources inside the llama-cpp-python
# sdist on PyPI, for bench/teacher_weights.py: the teacher's GGUF served natively. Not part of the install
# (about 5 minutes on 2 cores); needs cmake and a C++ compiler, downloads nothing else.
#   bash scripts/build-llama-server.sh [OUT]   -> OUT/build/bin/llama-server (OUT: .cache/llama.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-.cache/llama.cpp}")
VERSION=0.3.36
mkdir -p "$OUT/src"
if [ ! -d "$OUT/src/llama_cpp_python-$VERSION" ]; then
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$OUT/src"
  tar -xzf "$OUT/src/llama_cpp_python-$VERSION.tar.gz" -C "$OUT/src"
fi
# The server's web UI would be downloaded at build time: off. No curl or OpenSSL (local use only).
cmake -S "$OUT/src/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$OUT/build" -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/build" -j"$(nproc)" --target llama-server llama-batched-bench >/dev/null
echo "$OUT/build/bin/llama-server"  # beside the shared libraries it was linked with
