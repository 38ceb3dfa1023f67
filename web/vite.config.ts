/// <reference types="vitest/config" />
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { ortWasmAssets } from './tooling/ortWasmAssets.ts';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const fixturesDir = path.resolve(webDir, '../fixtures');

// The built app is served by the Python gateway from the same origin as its API; in dev, Vite forwards
// these API prefixes to a gateway on the default port.
const GATEWAY = 'http://127.0.0.1:8000';
const API_PREFIXES = ['/health', '/v1', '/models', '/generate', '/job', '/costs', '/queue'];

// Cross-origin isolation gives wasm threads (SharedArrayBuffer); dev and preview match the gateway.
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * The service worker (Workbox generateSW): precaches the app shell, onnxruntime-web's runtime (/ort/) and the
 * bundled tokenizer code, so a reload with the network off still starts the app; models come from OPFS (the
 * model store), never from this cache. Cached responses keep their original headers, COOP/COEP included, so
 * the page stays cross-origin isolated offline. The served model manifest is network-first (listing offline).
 */
function offlineShell() {
  return VitePWA({
    registerType: 'autoUpdate',
    injectRegister: 'script-defer',
    manifest: false,
    workbox: {
      // ort.bundle.min.mjs embeds the JSEP glue and loads only the JSEP wasm (for both wasm and WebGPU).
      globPatterns: ['**/*.{html,js,css,svg,png,ico,woff2}', 'ort/ort-wasm-simd-threaded.jsep.{wasm,mjs}'],
      // The JSEP wasm is ~28 MB; the default 2 MiB limit would leave it out.
      maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
      navigateFallback: '/index.html',
      // API and model paths are never answered with the app shell.
      navigateFallbackDenylist: API_PREFIXES.map((prefix) => new RegExp(`^${prefix}(/|$)`)),
      clientsClaim: true,
      skipWaiting: true,
      cleanupOutdatedCaches: true,
      runtimeCaching: [
        {
          urlPattern: ({ url }: { url: URL }) => url.pathname === '/models/manifest.json',
          handler: 'NetworkFirst',
          options: { cacheName: 'turbodraft-model-manifest', networkTimeoutSeconds: 5 },
        },
      ],
    },
  });
}

export default defineConfig({
  base: '/',
  plugins: [react(), ortWasmAssets(), offlineShell()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2023',
  },
  resolve: {
    // onnxruntime-web's default ("bundle") build embeds `new URL('*.wasm', import.meta.url)`, which makes
    // Vite emit a second 28 MB copy of the runtime; this build loads everything from `ort.env.wasm.wasmPaths`.
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  optimizeDeps: {
    // Pre-bundling would move ORT away from the files its `import.meta.url` lookups expect.
    exclude: ['onnxruntime-web'],
  },
  server: {
    host: '127.0.0.1',
    headers: ISOLATION_HEADERS,
    proxy: Object.fromEntries(API_PREFIXES.map((prefix) => [prefix, { target: GATEWAY }])),
    fs: {
      allow: [webDir, fixturesDir],
    },
  },
  preview: {
    host: '127.0.0.1',
    headers: ISOLATION_HEADERS,
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
    // Some tests run the tiny model on onnxruntime's wasm backend: seconds on a busy 2-core CI machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
