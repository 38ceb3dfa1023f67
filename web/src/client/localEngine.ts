/**
 * The browser engine behind the orchestrator's LocalEnginePort: PNG blobs in and out, one request at a time
 * (two shapes drafting at once must queue, not supersede each other), a test hook that fails the next local
 * generation, and release/warm-up for the hidden-tab policy.
 *
 * Device loss: EngineClient ends its worker when a generation reports 'device-lost', so the next request
 * starts a new worker with a new device; this request falls back along the plan (the orchestrator's part).
 */
import type { EngineClient } from '../engine/client';
import type { EngineRequest } from '../engine/engine';
import { EngineError, type EngineErrorCode } from '../engine/errors';
import { findVariant } from '../engine/manifest';
import type { LocalEnginePort, LocalRequest, LocalResult } from './orchestrator';
import { engineBackend } from './orchestrator';

export interface LocalTestHooks {
  /** The next local generation fails with this engine error code (then the hook clears itself). */
  failNextLocal: EngineErrorCode | null;
}

/** Float HWC [0, 1] pixels of an image, scaled to width x height (the engine's img2img input). */
export async function imagePixels(image: Blob, width: number, height: number): Promise<Float32Array> {
  const bitmap = await createImageBitmap(image);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  if (context === null) throw new EngineError('invalid-init-image', 'OffscreenCanvas has no 2d context here');
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const out = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = (rgba[p * 4 + c] ?? 0) / 255;
  }
  return out;
}

export class BrowserEngine implements LocalEnginePort {
  readonly hooks: LocalTestHooks = { failNextLocal: null };
  private readonly engine: EngineClient;
  private queue: Promise<unknown> = Promise.resolve();
  private last: { model: string; backend: EngineRequest['backend'] } | null = null;

  constructor(engine: EngineClient) {
    this.engine = engine;
  }

  generate(request: LocalRequest, onProgress?: (stage: string) => void): Promise<LocalResult> {
    const run = this.queue.then(() => this.run(request, onProgress));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Frees sessions and GPU memory (the worker ends; the next request starts a new one). */
  release(): Promise<void> {
    const run = this.queue.then(() => this.engine.dispose());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Loads the last used model again with a tiny throwaway generation, so the next draft starts warm. */
  warmUp(): Promise<void> {
    const last = this.last;
    if (last === null) return Promise.resolve();
    const run = this.queue.then(async () => {
      const side = findVariant(last.model).image.min;
      await this.engine.generate({
        prompt: '',
        seed: 0,
        steps: 1,
        width: side,
        height: side,
        model: last.model,
        ...(last.backend === undefined ? {} : { backend: last.backend }),
      });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(request: LocalRequest, onProgress?: (stage: string) => void): Promise<LocalResult> {
    const failure = this.hooks.failNextLocal;
    if (failure !== null) {
      this.hooks.failNextLocal = null;
      if (failure === 'device-lost') await this.engine.dispose(); // as the real loss does: a new worker next
      throw new EngineError(failure, `test hook: forced ${failure}`);
    }
    const backend = engineBackend(request.backend);
    const initImage =
      request.initImage === undefined ? undefined : await imagePixels(request.initImage, request.width, request.height);
    const result = await this.engine.generate(
      {
        prompt: request.prompt,
        seed: request.seed,
        steps: request.steps,
        width: request.width,
        height: request.height,
        model: request.model,
        ...(backend === undefined ? {} : { backend }),
        ...(initImage === undefined ? {} : { initImage, strength: request.strength ?? 0.5 }),
      },
      { onProgress: (progress) => onProgress?.(progress.stage) },
    );
    if (result.png === null) throw new EngineError('encode-failed', 'the engine returned no PNG');
    this.last = { model: result.model, backend: result.backend };
    return {
      png: result.png,
      backend: result.backend,
      model: result.model,
      steps: result.steps,
      timings: result.timings,
    };
  }
}
