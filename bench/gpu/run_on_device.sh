#!/usr/bin/env bash
# The whole GPU measurement in one command on the device machine (carry .gpu-carry and .whl; see pack.sh):
#   1. build the full-size random SD-Turbo models and export them into /tmp/sdt (never into the tree: GBs),
#   2. native PyTorch fp16 baseline on the same card (build_models.py),
#   3. the engine's pipeline through Dawn in Node, every configuration in one process (node/bench.ts),
#   with nvidia-smi polling memory in the background. Results land in $OUT (the device tool returns it).
# Usage: bash bench/gpu/run_on_device.sh [bench.mjs args...]   e.g. --runs 10 (default configs: demo, engine, engine-full)
# BUILD_ARGS=--extra also exports the exploratory graphs (mha/, taesd-gate/) for --only nhwc-fixed-mha,...
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"; budget=${BUDGET_S:-570}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.csv"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
(cd .gpu-carry && source ./setup-on-device.sh >/dev/null 2>&1)  # unpacks node, dawn.node, loaders
# The same variables setup-on-device.sh sets (it is sourced in a subshell above, so set them here).
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json PATH="$PWD/.gpu-carry:$PATH"
export DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia disable-dawn-features=vulkan_use_storage_input_output_16"
[ -e /tmp/sdt/taesd/vae_decoder/model.onnx ] || python3 bench/gpu/build_models.py --out /tmp/sdt --json "$OUT/native.json" ${BUILD_ARGS:-} 2>&1 \
  | grep -v -i -E 'warn|^\s*$|torch.onnx|_C._jit' | tee "$OUT/build.log"
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/smi.csv" &
smi=$!
timeout $((budget - SECONDS)) .gpu-carry/node .gpu-carry/bench.mjs --models /tmp/sdt --ort-dir .gpu-carry/ort \
  --out "$OUT/engine.json" --dawn .gpu-carry/dawn-shim.mjs "$@" 2>&1 | grep -v -E 'W:onnxruntime|^\s*$' | tee "$OUT/node.log"
kill "$smi"; cp .gpu-carry/versions.txt "$OUT/"; echo "done in ${SECONDS}s"
