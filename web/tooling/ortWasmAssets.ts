import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Plugin } from 'vite';

// onnxruntime-web loads its wasm binaries and their Emscripten glue (.mjs) at run time. We serve them
// from our own origin (no CDN: the page is cross-origin isolated and must work offline), so the engine
// sets `ort.env.wasm.wasmPaths = ORT_WASM_PUBLIC_PATH`.
export const ORT_WASM_PUBLIC_PATH = '/ort/';

const RUNTIME_FILE = /^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.wasm': 'application/wasm',
  '.mjs': 'text/javascript',
};

function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  // The package's "exports" map lists the wasm files, so this resolves without reaching into dist/ by hand.
  return path.dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
}

async function runtimeFiles(distDir: string): Promise<string[]> {
  const names = await readdir(distDir);
  const files = names.filter((name) => RUNTIME_FILE.test(name)).sort();
  if (files.length === 0) {
    throw new Error(`no onnxruntime-web runtime files matched in ${distDir}`);
  }
  return files;
}

/** Copies onnxruntime-web's runtime files to `<outDir>/ort/` on build and serves them there in dev. */
export function ortWasmAssets(): Plugin {
  const distDir = ortDistDir();
  const subdir = ORT_WASM_PUBLIC_PATH.replaceAll('/', '');
  let outDir = '';
  return {
    name: 'turbodraft:ort-wasm-assets',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      const allowed = runtimeFiles(distDir);
      // Served raw: Vite must not transform the Emscripten glue, and the COOP/COEP headers keep
      // ORT's worker threads inside the cross-origin-isolated page.
      server.middlewares.use(ORT_WASM_PUBLIC_PATH, (req, res, next) => {
        const name = (req.url ?? '').split('?')[0]?.replace(/^\//, '') ?? '';
        allowed.then(
          (files) => {
            if (!files.includes(name)) {
              next();
              return;
            }
            res.setHeader('Content-Type', CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream');
            res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
            res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
            res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
            createReadStream(path.join(distDir, name)).pipe(res);
          },
          (error: unknown) => {
            next(error);
          },
        );
      });
    },
    async writeBundle() {
      const target = path.join(outDir, subdir);
      await mkdir(target, { recursive: true });
      for (const name of await runtimeFiles(distDir)) {
        await copyFile(path.join(distDir, name), path.join(target, name));
      }
    },
  };
}
