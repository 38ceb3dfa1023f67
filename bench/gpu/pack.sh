#!/usr/bin/env bash
# Prepare, on this machine, the one folder a GPU run carries (git-ignored, well under the 64 MiB carry limit):
#   <out>/gpu-carry/   Node, dawn.node, onnxruntime-web's JSEP and native-EP runtimes, Vulkan/GL loaders,
#                      bench.mjs (bench/gpu/node/bench.ts bundled with the engine's modules for Node)
#   <out>/site.tar.xz  diffusers (pure Python) for the GPU machine's Python: its image lacks it
#   <out>/bench/gpu, <out>/src/turbodraft, the fixtures' tokenizer.json: what build_models.py imports
# Usage: bench/gpu/pack.sh [OUT_DIR=.gpu-run]   (from the repository root; needs web/node_modules, npm, pip, apt-get)
# Then a device run with carry [OUT_DIR]: BUDGET_S=575 bash OUT_DIR/bench/gpu/run_on_device.sh --runs 10
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"
out=${1:-.gpu-run}; rm -rf "$out"; mkdir -p "$out/gpu-carry/ort" "$out/bench/gpu" "$out/src" "$out/fixtures/tiny-sd-turbo-fp16"
tmp=$(mktemp -d)
(cd "$tmp" && npm pack --silent webgpu@0.6.2 >/dev/null && tar xzf webgpu-*.tgz package/dist/linux-x64/dawn.node)
xz -T0 -6 -c "$tmp/package/dist/linux-x64/dawn.node" > "$out/gpu-carry/dawn.node.xz"
xz -T0 -9 -c "$(command -v node)" > "$out/gpu-carry/node.xz"
ort=web/node_modules/onnxruntime-web/dist
cp "$ort"/ort.min.mjs "$ort"/ort.webgpu.min.mjs "$ort"/ort-wasm-simd-threaded.jsep.mjs "$ort"/ort-wasm-simd-threaded.asyncify.mjs "$out/gpu-carry/ort/"
for w in jsep asyncify; do xz -T0 -9 -c "$ort/ort-wasm-simd-threaded.$w.wasm" > "$out/gpu-carry/ort/ort-wasm-simd-threaded.$w.wasm.xz"; done
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64-lists'
mkdir -p /tmp/amd64-lists/partial; apt-get $o update -qq
(cd "$out/gpu-carry" && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
tools=${DAWN_NODE_TOOLS:-$root/../shared/tools/dawn-node}
cp "$tools/setup-on-device.sh" "$tools/dawn-shim.mjs" "$out/gpu-carry/"
web/node_modules/.bin/rolldown bench/gpu/node/bench.ts --format esm --platform node -o "$out/gpu-carry/bench.mjs"
(cd web && npm ls onnxruntime-web --depth=0 | grep onnxruntime-web) > "$out/gpu-carry/versions.txt"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 -d "$tmp/whl" diffusers==0.42.1 importlib_metadata
mkdir -p "$tmp/site"; for w in "$tmp"/whl/*.whl; do python3 -m zipfile -e "$w" "$tmp/site"; done
tar cJf "$out/site.tar.xz" -C "$tmp/site" .
cp bench/gpu/*.py bench/gpu/run_on_device.sh "$out/bench/gpu/"
cp -r src/turbodraft "$out/src/"; find "$out/src" -name __pycache__ -prune -exec rm -rf {} +
cp fixtures/tiny-sd-turbo-fp16/tokenizer.json "$out/fixtures/tiny-sd-turbo-fp16/"
rm -rf "$tmp"; du -sh "$out"
