#!/usr/bin/env bash
# Prepare, on this machine, everything the GPU run carries (all git-ignored):
#   .gpu-carry/  Node, dawn.node, onnxruntime-web's runtime files, Vulkan/GL loaders (shared/tools/dawn-node/pack.sh)
#                plus bench.mjs: bench/gpu/node/bench.ts bundled with the engine's modules for Node
#   .whl/        diffusers (and importlib_metadata) for the GPU machine's Python 3.12: its image lacks them
# Usage: bench/gpu/pack.sh   (from the repository root; needs web/node_modules, npm, pip, apt-get, xz)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"
tools=${DAWN_NODE_TOOLS:-$root/../shared/tools/dawn-node}
[ -e .gpu-carry/node.xz ] || "$tools/pack.sh" .gpu-carry web/node_modules/onnxruntime-web/dist
# Only the WebGPU bundles' wasm files and the plain one are used; the jspi runtime is not.
rm -f .gpu-carry/ort/ort-wasm-simd-threaded.jspi.mjs
web/node_modules/.bin/rolldown bench/gpu/node/bench.ts --format esm --platform node -o .gpu-carry/bench.mjs
(cd web && npm ls onnxruntime-web --depth=0 | grep onnxruntime-web) > .gpu-carry/versions.txt
echo "webgpu(dawn.node) $(npm view webgpu version)" >> .gpu-carry/versions.txt
mkdir -p .whl
[ -n "$(ls .whl/diffusers-*.whl 2>/dev/null)" ] || python3 -m pip download -q --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d .whl diffusers==0.42.1 importlib_metadata
du -sh .gpu-carry .whl
