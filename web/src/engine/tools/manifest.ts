/**
 * The canvas tools' models, from the manifest shared with the Python twin (`tools` in
 * src/turbodraft/models/manifest.json, validated by turbodraft.models.manifest.ToolModel).
 */
import manifestJson from '../../../../src/turbodraft/models/manifest.json';
import { EngineError } from '../errors';

export type ToolKind = 'upscale' | 'matte' | 'style';
export type ToolBackend = 'webgpu' | 'wasm';

export interface ToolIO {
  /** Graph input/output names; null: the first one. */
  readonly input: string | null;
  readonly output: string | null;
  /** Pixels in [0, 1] times this go in; the output divided by `output_scale` comes back in [0, 1]. */
  readonly input_scale: number;
  readonly output_scale: number;
}

export interface ImageLimits {
  readonly min_side: number;
  readonly max_side: number;
  readonly max_pixels: number;
}

export interface UpscaleParams {
  readonly scale: number;
  readonly tile: number;
  readonly overlap: number;
  readonly multiple_of: number;
}

export interface MatteParams {
  readonly resolution: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly divide_by_max: boolean;
  readonly minmax: boolean;
}

export interface StyleParams {
  readonly style: string;
  readonly multiple_of: number;
}

export interface ToolModel {
  readonly id: string;
  readonly tool: ToolKind;
  readonly description: string;
  readonly license: string;
  readonly license_url: string;
  readonly files: readonly { readonly path: string; readonly size: number | null }[];
  readonly graph: string;
  readonly backends: readonly ToolBackend[];
  readonly io: ToolIO;
  readonly limits: ImageLimits;
  readonly upscale?: UpscaleParams | null;
  readonly matte?: MatteParams | null;
  readonly style?: StyleParams | null;
}

export const TOOL_MODELS: readonly ToolModel[] = (manifestJson as unknown as { tools: ToolModel[] }).tools;

export function findToolModel(id: string, models: readonly ToolModel[] = TOOL_MODELS): ToolModel {
  const model = models.find((m) => m.id === id);
  if (model === undefined) {
    const known = models.map((m) => m.id).join(', ');
    throw new EngineError('unknown-model', `unknown tool model ${JSON.stringify(id)}; known: ${known}`);
  }
  return model;
}

/** Bytes to download for a model, where the manifest knows them. */
export function downloadBytes(model: ToolModel): number | null {
  let total = 0;
  for (const f of model.files) {
    if (f.size === null) return null;
    total += f.size;
  }
  return total;
}
