/**
 * `window.turbodraft.tools`: the canvas tools for browser tests and scripts, in JSON-friendly form (images as
 * base64 RGBA or a URL in, PNG as a data URL and base64 RGBA / float32 out).
 */
import type { EngineClient } from '../client';
import type { RgbaImage } from './images';
import { TOOL_MODELS, type ToolBackend, type ToolKind, type ToolModel } from './manifest';
import type { ToolProgress } from './ops';
import type { ToolRequest, ToolResult } from './toolEngine';

export interface RawImage {
  readonly width: number;
  readonly height: number;
  /** Base64 of 8-bit RGBA, row-major. */
  readonly rgba: string;
}

export interface AutomationToolRequest {
  readonly tool: ToolKind;
  readonly model: string;
  /** An image URL (data: URLs included) or raw RGBA. */
  readonly image: string | RawImage;
  readonly backend?: ToolBackend;
  readonly strength?: number;
  readonly maxSide?: number;
  readonly tile?: number;
  readonly overlap?: number;
  readonly returnPixels?: boolean;
}

export interface AutomationToolResult extends Omit<ToolResult, 'png' | 'pixels' | 'rgba'> {
  readonly png: string | null;
  readonly rgba: string;
  /** Base64 of little-endian float32 RGBA [H, W, 4], when asked for. */
  readonly pixels: string | null;
  readonly progress: ToolProgress[];
}

export interface ToolsAutomation {
  run: (request: AutomationToolRequest) => Promise<AutomationToolResult>;
  cancel: () => Promise<void>;
  stats: () => Promise<{ sessionsCreated: number; sessions: string[]; deviceLost: string | null }>;
  simulateDeviceLoss: () => Promise<boolean>;
  models: readonly ToolModel[];
}

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function decode(image: string | RawImage): Promise<RgbaImage> {
  if (typeof image !== 'string') return { width: image.width, height: image.height, data: fromBase64(image.rgba) };
  const bitmap = await createImageBitmap(await (await fetch(image)).blob(), {
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none',
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('OffscreenCanvas has no 2d context here');
  context.drawImage(bitmap, 0, 0);
  return { width: bitmap.width, height: bitmap.height, data: context.getImageData(0, 0, bitmap.width, bitmap.height).data };
}

async function dataUrl(blob: Blob): Promise<string> {
  return `data:${blob.type};base64,${toBase64(new Uint8Array(await blob.arrayBuffer()))}`;
}

export function toolsAutomation(engine: EngineClient): ToolsAutomation {
  return {
    run: async (request) => {
      const { image, ...rest } = request;
      const toolRequest: ToolRequest = { ...rest, image: await decode(image) };
      const progress: ToolProgress[] = [];
      const result = await engine.runTool(toolRequest, { onProgress: (p) => progress.push(p) });
      const { png, pixels, rgba, ...summary } = result;
      return {
        ...summary,
        png: png === null ? null : await dataUrl(png),
        rgba: toBase64(new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength)),
        pixels: pixels === null ? null : toBase64(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)),
        progress,
      };
    },
    cancel: () => engine.cancelTool(),
    stats: () => engine.toolStats(),
    simulateDeviceLoss: () => engine.simulateToolDeviceLoss(),
    models: TOOL_MODELS,
  };
}
