/** The capability report sent to `/v1/route`: the engine's detection, the model store's state, a measurement. */
import type { CapabilityReport } from '../engine/capabilities';
import { findVariant } from '../engine/manifest';
import type { StoreStatus } from '../engine/store/types';
import type { LocalModelState, ModelVariantId, RouteCapabilities } from './api';

/** The store's six states folded into the gateway's four (verifying is still "not ready yet"). */
export function localModelState(status: StoreStatus | undefined): LocalModelState {
  switch (status) {
    case 'ready':
      return 'ready';
    case 'downloading':
    case 'verifying':
      return 'downloading';
    case 'error':
      return 'error';
    case 'paused':
    case 'not-downloaded':
    case undefined:
      return 'not-downloaded';
  }
}

function nonEmpty(text: string | undefined): string | null {
  return text === undefined || text === '' ? null : text;
}

export function routeCapabilities(
  report: CapabilityReport,
  model: { readonly variant: ModelVariantId; readonly status: StoreStatus | undefined } | null,
  measuredDraftMs: number | null,
): RouteCapabilities {
  return {
    hasWebGPU: report.hasWebGPU,
    shaderF16: report.shaderF16,
    isSoftwareAdapter: report.isSoftwareAdapter,
    adapterArchitecture: nonEmpty(report.adapter?.architecture),
    crossOriginIsolated: report.crossOriginIsolated,
    hardwareConcurrency: report.hardwareConcurrency,
    localModel: model === null ? null : { variant: model.variant, state: localModelState(model.status) },
    measuredDraftMs: measuredDraftMs !== null && measuredDraftMs > 0 ? measuredDraftMs : null,
  };
}

/** The model this browser should keep locally: fp16 with the tiny draft decoder where WebGPU has shader-f16, else the int8 build. */
export function preferredVariant(report: CapabilityReport): ModelVariantId {
  return report.hasWebGPU && report.shaderF16 && !report.isSoftwareAdapter ? 'sd-turbo-fp16-taesd' : 'sd-turbo-int8';
}

const STANDARD_SIDES = [64, 128, 256, 512, 768, 1024];

/** Square sizes the variant accepts (from the model manifest), and its default. */
export function variantSizes(variant: ModelVariantId): { sizes: number[]; defaultSize: number } {
  try {
    const range = findVariant(variant).image;
    const sizes = STANDARD_SIDES.filter((s) => s >= range.min && s <= range.max && s % range.multiple_of === 0);
    return { sizes: sizes.length > 0 ? sizes : [range.default], defaultSize: range.default };
  } catch {
    return { sizes: [512], defaultSize: 512 }; // not a browser model (e.g. sdxl): SD-Turbo's native size
  }
}
