/**
 * diffusers' EulerDiscreteScheduler, reduced to what SD-Turbo uses: a mirror of the Python twin's
 * turbodraft/pipeline/scheduler.py and recipe.py, one function per step of diffusers' pipeline.
 *
 * diffusers computes in float32; `f32` (Math.fround) after each operation keeps the schedule bit-equal to it.
 */
import { EngineError } from './errors';
import type { SchedulerConstants } from './manifest';

const f32 = Math.fround;

export interface Schedule {
  /** The UNet's timestep for each step (integer-valued for trailing spacing). */
  readonly timesteps: Float32Array;
  /** One sigma per step plus the final 0. */
  readonly sigmas: Float32Array;
}

/** torch.linspace(dtype=float32): the first half counts up from start, the second half down from end. */
function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / f32(steps - 1));
  const out = new Float32Array(steps);
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  }
  return out;
}

export function alphasCumprod(c: SchedulerConstants): Float32Array {
  const n = c.num_train_timesteps;
  let betas: Float32Array;
  if (c.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(c.beta_start), Math.sqrt(c.beta_end), n).map((b) => f32(b * b));
  } else {
    betas = torchLinspaceF32(c.beta_start, c.beta_end, n);
  }
  const out = new Float32Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) {
    acc = f32(acc * f32(1 - (betas[i] ?? 0)));
    out[i] = acc;
  }
  return out;
}

export function trainSigmas(c: SchedulerConstants): Float32Array {
  return alphasCumprod(c).map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** numpy's round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** EulerDiscreteScheduler.set_timesteps' spacing, before interpolation (float64, as numpy computes it). */
export function spacedTimesteps(c: SchedulerConstants, steps: number): number[] {
  const n = c.num_train_timesteps;
  const out: number[] = [];
  if (c.timestep_spacing === 'trailing') {
    const ratio = n / steps;
    for (let i = 0; n - i * ratio > 0; i++) out.push(f32(roundHalfEven(n - i * ratio)) - 1);
  } else if (c.timestep_spacing === 'linspace') {
    for (let i = steps - 1; i >= 0; i--) out.push(f32(steps === 1 ? 0 : ((n - 1) * i) / (steps - 1)));
  } else {
    const ratioInt = Math.floor(n / steps);
    for (let i = steps - 1; i >= 0; i--) out.push(roundHalfEven(i * ratioInt) + c.steps_offset);
  }
  return out;
}

/** np.interp over integer sample points 0..len-1. */
function interp(x: number, ys: Float32Array): number {
  const last = ys.length - 1;
  if (x <= 0) return ys[0] ?? 0;
  if (x >= last) return ys[last] ?? 0;
  const i = Math.floor(x);
  const frac = x - i;
  const y0 = ys[i] ?? 0;
  const y1 = ys[i + 1] ?? 0;
  return frac === 0 ? y0 : y0 + (y1 - y0) * frac;
}

export function eulerSchedule(c: SchedulerConstants, steps: number): Schedule {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new EngineError('invalid-steps', `steps must be a positive integer, got ${String(steps)}`);
  }
  const timesteps = spacedTimesteps(c, steps);
  const train = trainSigmas(c);
  const sigmas = new Float32Array(timesteps.length + 1);
  timesteps.forEach((t, i) => {
    sigmas[i] = interp(t, train);
  });
  return { timesteps: Float32Array.from(timesteps), sigmas };
}

/** What pure-noise latents are multiplied by: sigma_max for trailing/linspace, else sqrt(sigma_max^2 + 1). */
export function initNoiseSigma(schedule: Schedule, c: SchedulerConstants): number {
  const sigmaMax = schedule.sigmas.reduce((a, b) => Math.max(a, b), 0);
  if (c.timestep_spacing === 'trailing' || c.timestep_spacing === 'linspace') return f32(sigmaMax);
  return f32(Math.sqrt(f32(f32(sigmaMax * sigmaMax) + 1)));
}

/** StableDiffusionImg2ImgPipeline.get_timesteps: the index of the first step that runs. */
export function img2imgStart(steps: number, strength: number): number {
  if (!(strength > 0 && strength <= 1)) {
    throw new EngineError('invalid-strength', `strength must be in (0, 1], got ${String(strength)}`);
  }
  const initTimestep = Math.min(Math.floor(steps * strength), steps);
  if (initTimestep < 1) {
    throw new EngineError(
      'invalid-strength',
      `steps * strength must be at least 1 (got ${String(steps)} * ${String(strength)}); raise the steps or the strength`,
    );
  }
  return Math.max(steps - initTimestep, 0);
}

/** The schedule from step `start` on (diffusers' set_begin_index). */
export function tail(schedule: Schedule, start: number): Schedule {
  return { timesteps: schedule.timesteps.slice(start), sigmas: schedule.sigmas.slice(start) };
}

// --- The arithmetic between the graphs (recipe.py). Each returns a new array. ---

/** EulerDiscreteScheduler.scale_model_input: the UNet sees latents at unit variance. */
export function scaleModelInput(latents: Float32Array, sigma: number): Float32Array {
  const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  return latents.map((x) => x / denom);
}

/** EulerDiscreteScheduler.step for epsilon prediction with s_churn 0 (so sigma_hat == sigma). */
export function eulerStep(latents: Float32Array, noisePred: Float32Array, sigma: number, sigmaNext: number): Float32Array {
  const dt = f32(sigmaNext - sigma);
  return latents.map((x, i) => {
    const predOriginal = f32(x - f32(sigma * (noisePred[i] ?? 0)));
    const derivative = f32(f32(x - predOriginal) / sigma);
    return f32(x + f32(derivative * dt));
  });
}

/** EulerDiscreteScheduler.add_noise at the first step that runs (img2img). */
export function addNoise(initLatents: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  return initLatents.map((x, i) => f32(x + f32((noise[i] ?? 0) * sigma)));
}

/** The web layout's UNet takes the timestep as int64 [1]. */
export function unetTimestep(timestep: number): BigInt64Array {
  return BigInt64Array.of(BigInt(Math.round(timestep)));
}

export function scaleLatents(latents: Float32Array, factor: number): Float32Array {
  const k = f32(factor);
  return latents.map((x) => x * k);
}

/** Undo the VAE's latent scaling before decoding. */
export function latentsToVae(latents: Float32Array, scalingFactor: number): Float32Array {
  const k = f32(scalingFactor);
  return latents.map((x) => x / k);
}

/** VAE output NCHW [1,3,H,W] in [-1, 1] to pixels HWC [H,W,3] in [0, 1] (diffusers' postprocess, before uint8). */
export function decoderOutputToPixels(decoded: Float32Array, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = f32((decoded[c * plane + p] ?? 0) / 2 + 0.5);
      out[p * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/** Pixels HWC [H,W,3] in [0, 1] to the encoder's NCHW [1,3,H,W] input in [-1, 1] (diffusers' preprocess). */
export function pixelsToVaeInput(pixels: Float32Array, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) out[c * plane + p] = f32((pixels[p * 3 + c] ?? 0) * 2 - 1);
  }
  return out;
}
