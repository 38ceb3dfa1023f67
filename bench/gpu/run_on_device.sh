#!/usr/bin/env bash
# The whole GPU measurement in one command on the device machine, from the folder bench/gpu/pack.sh fills
# (carried as one git-ignored folder; run it as `bash <folder>/bench/gpu/run_on_device.sh`):
#   1. build the full-size random SD-Turbo models and export them into /tmp/sdt (never into the tree: GBs),
#      with the native PyTorch fp16 baseline on the same card (build_models.py),
#   2. the graph variants of the routes (graph_variants.py: capture/ at once, the optimizer's in the background),
#   3. the engine's pipeline through Dawn in Node, every route configuration in one process (node/bench.ts),
#   4. three short processes more: a second cold start (the driver's shader cache now warm), the native WebGPU EP
#      (a segfault there must not end the main process) and Dawn toggles a browser does not set,
#   with nvidia-smi polling memory in the background. Results: $OUT/engine.json and $OUT/all.tgz (the rest).
# Usage: BUDGET_S=560 bash bench/gpu/run_on_device.sh [bench.mjs args...]   e.g. --runs 10
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd); cd "$here"
OUT=${OUT:-/tmp/gpu-out}; R=/tmp/gpu-res; mkdir -p "$OUT" "$R"; budget=${BUDGET_S:-560}
left() { echo $((budget - SECONDS)); }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$R/gpu.csv"
mkdir -p /tmp/site && tar xJf site.tar.xz -C /tmp/site   # diffusers (pure Python): the image lacks it
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
(cd gpu-carry && source ./setup-on-device.sh >/dev/null 2>&1)  # unpacks node, dawn.node, loaders
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json PATH="$PWD/gpu-carry:$PATH"
F16="enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia disable-dawn-features=vulkan_use_storage_input_output_16"
export DAWN_FLAGS="$F16"
python3 bench/gpu/build_models.py --out /tmp/sdt --json "$R/native.json" 2>&1 \
  | grep -v -i -E 'warn|^\s*$|torch.onnx|_C._jit|if .*:$' > "$R/build.log"; tail -c 1500 "$R/build.log"
python3 bench/gpu/graph_variants.py /tmp/sdt --only capture --json "$R/variant-capture.json" > "$R/variants.log" 2>&1
for v in opt-all opt-nogn opt-noattn; do
  python3 bench/gpu/graph_variants.py /tmp/sdt --only $v --json "$R/variant-$v.json" >> "$R/variants.log" 2>&1 &
done
nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader,nounits -lms 200 > "$R/smi.csv" &
smi=$!
node=(gpu-carry/node gpu-carry/bench.mjs --models /tmp/sdt --ort-dir gpu-carry/ort --dawn gpu-carry/dawn-shim.mjs)
echo "== main process, $(left) s left"
timeout $(( $(left) - 75 )) "${node[@]}" --out "$OUT/engine.json" --budget-s $(( $(left) - 110 )) "$@" 2>&1 \
  | grep -v -E 'W:onnxruntime|E:onnxruntime|^\s*$|XDG' | tee "$R/node.log"
echo "== second cold start (driver cache warm), $(left) s left"
timeout 40 "${node[@]}" --out "$R/cold2.json" --only engine --runs 3 2>&1 | grep -E '^\{|^!!' | tee -a "$R/node.log"
echo "== native WebGPU EP, $(left) s left"
timeout 30 "${node[@]}" --out "$R/native-ep.json" --only native-ep-cpu-latents,native-ep --runs 5 > "$R/native-ep.log" 2>&1
echo "native-ep exit $?" | tee -a "$R/native-ep.log"; grep -E '^\{|^!!|Segmentation|signal' "$R/native-ep.log" | head -5
echo "== Dawn toggles, $(left) s left"
DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,disable_robustness,skip_validation,disable_workgroup_init disable-dawn-features=vulkan_use_storage_input_output_16" \
  timeout $(( $(left) - 8 > 40 ? 40 : $(left) - 8 )) "${node[@]}" --out "$R/toggles.json" --only engine --runs 5 2>&1 | grep -E '^\{|^!!' | tee -a "$R/node.log"
kill "$smi" 2>/dev/null; cp gpu-carry/versions.txt "$R/" 2>/dev/null
tar czf "$OUT/all.tgz" -C "$R" .; echo "done in ${SECONDS}s"
