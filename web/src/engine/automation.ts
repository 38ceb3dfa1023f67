/**
 * `window.turbodraft.generate` and `window.turbodraft.engine`: the engine for browser tests and scripts, with
 * results in JSON-friendly form (PNG as a data URL, pixels as base64 little-endian float32).
 */
import { EngineClient } from './client';
import type { EngineRequest, EngineResult } from './engine';
import type { BackendName } from './manifest';
import type { Progress } from './pipeline';
import { toolsAutomation, type ToolsAutomation } from './tools/automation';

export interface AutomationRequest {
  readonly prompt: string;
  readonly seed: number;
  readonly steps?: number;
  readonly width?: number;
  readonly height?: number;
  readonly model?: string;
  readonly backend?: BackendName;
  /** img2img source HWC [height, width, 3] in [0, 1]: floats, or an image URL (data: URLs included). */
  readonly initImage?: Float32Array | readonly number[] | string;
  readonly strength?: number;
  /** Unscaled standard-normal latents [1, 4, height/8, width/8]. */
  readonly latents?: Float32Array | readonly number[];
  /** Also return the float pixels (base64 float32). */
  readonly returnPixels?: boolean;
}

export interface AutomationResult extends Omit<EngineResult, 'png' | 'pixels'> {
  /** data:image/png;base64,... */
  readonly png: string | null;
  /** Base64 of little-endian float32 HWC pixels in [0, 1], when asked for. */
  readonly pixels: string | null;
  /** Progress events seen, in order. */
  readonly progress: Progress[];
}

export interface EngineAutomation {
  generate: (request: AutomationRequest) => Promise<AutomationResult>;
  engine: EngineClient;
  /** The canvas tools (upscale, background removal, style) in the same worker. */
  tools: ToolsAutomation;
}

function base64(bytes: Uint8Array): string {
  let text = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(text);
}

async function dataUrl(blob: Blob): Promise<string> {
  return `data:${blob.type};base64,${base64(new Uint8Array(await blob.arrayBuffer()))}`;
}

async function imagePixels(url: string, width: number, height: number): Promise<Float32Array> {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('OffscreenCanvas has no 2d context here');
  context.drawImage(bitmap, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const out = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = (rgba[p * 4 + c] ?? 0) / 255;
  }
  return out;
}

const floats = (values: Float32Array | readonly number[]): Float32Array =>
  values instanceof Float32Array ? values : Float32Array.from(values);

export function engineAutomation(engine: EngineClient = new EngineClient()): EngineAutomation {
  const generate = async (request: AutomationRequest): Promise<AutomationResult> => {
    const { initImage, latents, ...rest } = request;
    let image: Float32Array | undefined;
    if (typeof initImage === 'string') {
      image = await imagePixels(initImage, request.width ?? 512, request.height ?? 512);
    } else if (initImage !== undefined) {
      image = floats(initImage);
    }
    const engineRequest: EngineRequest = {
      ...rest,
      ...(image === undefined ? {} : { initImage: image }),
      ...(latents === undefined ? {} : { latents: floats(latents) }),
    };
    const progress: Progress[] = [];
    const result = await engine.generate(engineRequest, { onProgress: (p) => progress.push(p) });
    const { png, pixels, ...summary } = result;
    return {
      ...summary,
      png: png === null ? null : await dataUrl(png),
      pixels: pixels === null ? null : base64(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)),
      progress,
    };
  };
  return { generate, engine, tools: toolsAutomation(engine) };
}
