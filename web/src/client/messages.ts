/**
 * Words for the user: where an image was made, how long it took, what it cost, and which fallback was taken
 * and why ("no WebGPU: drafted on the server", "device lost: sent to RunPod"). Pure functions, no I/O.
 */
import type { Priority, RouteCapabilities, RoutePlan, Target } from './api';

/** The local engine's error codes that mean "this machine could not", in words. */
const LOCAL_FAILURES: Readonly<Record<string, string>> = {
  'device-lost': 'device lost',
  'backend-unavailable': 'WebGPU unavailable',
  'model-load-failed': 'local model failed to load',
  'inference-failed': 'local generation failed',
  'bad-output': 'local engine gave a bad image',
  'encode-failed': 'local image encoding failed',
  'unsupported-by-model': 'local model cannot do this',
};

export function localFailureText(code: string): string {
  return LOCAL_FAILURES[code] ?? `local engine error (${code})`;
}

export type RunPodMode = 'cloud' | 'local';

/** "RunPod" for the real service; the local RunPod-compatible server says what it is. */
export function targetName(target: Target, runpodMode: RunPodMode = 'cloud'): string {
  switch (target) {
    case 'browser':
      return 'this browser';
    case 'server':
      return 'the server';
    case 'runpod':
      return runpodMode === 'cloud' ? 'RunPod' : 'RunPod (local server)';
  }
}

/** What happened to the request, by where it ended up: "drafted on the server", "sent to RunPod". */
export function fallbackAction(target: Target, priority: Priority, runpodMode: RunPodMode = 'cloud'): string {
  if (target === 'runpod') return `sent to ${targetName(target, runpodMode)}`;
  const verb = priority === 'draft' ? 'drafted' : 'rendered';
  return target === 'server' ? `${verb} on the server` : `${verb} in this browser`;
}

/** Why the browser was left out of a plan, in a few words where the cause is a common one. */
export function browserSkipText(plan: RoutePlan, caps: RouteCapabilities | null): string | null {
  const skip = plan.skipped.find((s) => s.target === 'browser');
  if (skip === undefined) return null;
  const reason = skip.reason;
  if (caps !== null && !caps.hasWebGPU && /webgpu/i.test(reason)) return 'no WebGPU';
  if (reason.includes('not-downloaded')) return 'local model not downloaded';
  if (reason.includes('downloading')) return 'local model still downloading';
  if (reason.includes('mode=cloud')) return null; // the user asked for the cloud: nothing fell back
  if (reason.includes('finals go to RunPod')) return null;
  return reason;
}

export function formatSeconds(ms: number): string {
  if (ms < 1000) return `${String(Math.round(ms))} ms`;
  return `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 1 })} s`;
}

export function formatUsd(usd: number): string {
  if (usd === 0) return 'free';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export interface StatusFacts {
  readonly source: Target;
  /** The engine backend or the gateway's backend hint ("wasm", "webgpu-fp32", "cpu", "runpod"). */
  readonly backend: string;
  readonly totalMs: number;
  readonly costUsd: number;
  readonly runpodMode?: RunPodMode;
}

/** "Made in this browser (wasm) · 412 ms · free" */
export function statusLine(facts: StatusFacts): string {
  const where =
    facts.source === 'browser'
      ? `in this browser (${facts.backend})`
      : facts.source === 'server'
        ? 'on the server'
        : `on ${targetName('runpod', facts.runpodMode)}`;
  return `Made ${where} · ${formatSeconds(facts.totalMs)} · ${formatUsd(facts.costUsd)}`;
}
