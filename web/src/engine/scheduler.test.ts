import { describe, expect, it } from 'vitest';
import { EngineError } from './errors';
import { MANIFEST } from './manifest';
import { eulerSchedule, eulerStep, img2imgStart, initNoiseSigma, scaleModelInput, tail, unetTimestep } from './scheduler';

const constants = MANIFEST.families['sd-turbo']?.scheduler;
if (constants === undefined) throw new Error('manifest lacks the sd-turbo family');

// Printed by the Python twin (turbodraft.pipeline.scheduler.euler_schedule), itself checked bit-equal to diffusers.
const PYTHON: Record<number, { timesteps: number[]; sigmas: number[] }> = {
  1: { timesteps: [999], sigmas: [14.614652633666992, 0] },
  2: { timesteps: [999, 499], sigmas: [14.614652633666992, 1.612886667251587, 0] },
  3: { timesteps: [999, 666, 332], sigmas: [14.614652633666992, 2.9183084964752197, 0.9292144179344177, 0] },
  4: {
    timesteps: [999, 749, 499, 249],
    sigmas: [14.614652633666992, 4.081732273101807, 1.612886667251587, 0.6932050585746765, 0],
  },
};

describe('eulerSchedule', () => {
  for (const steps of [1, 2, 3, 4]) {
    it(`gives the Python twin's float32 timesteps and sigmas bit for bit at ${String(steps)} steps`, () => {
      const schedule = eulerSchedule(constants, steps);
      expect(Array.from(schedule.timesteps)).toEqual(PYTHON[steps]?.timesteps);
      expect(Array.from(schedule.sigmas)).toEqual(PYTHON[steps]?.sigmas);
    });
  }

  it('starts pure noise at sigma_max itself with trailing spacing', () => {
    expect(initNoiseSigma(eulerSchedule(constants, 2), constants)).toBe(Math.fround(14.614652633666992));
  });

  it('refuses zero steps with a typed error', () => {
    expect(() => eulerSchedule(constants, 0)).toThrow(EngineError);
  });
});

describe('img2img schedule', () => {
  it('skips the first steps as diffusers get_timesteps does', () => {
    expect(img2imgStart(4, 0.5)).toBe(2);
    expect(img2imgStart(2, 1)).toBe(0);
    expect(Array.from(tail(eulerSchedule(constants, 4), 2).timesteps)).toEqual([499, 249]);
  });

  it('refuses a strength that runs no step', () => {
    expect(() => img2imgStart(2, 0.4)).toThrow(/at least 1/);
  });
});

describe('the arithmetic between graphs', () => {
  it('scales the UNet input to unit variance', () => {
    expect(scaleModelInput(Float32Array.of(2), 0)[0]).toBe(2);
    expect(scaleModelInput(Float32Array.of(5), Math.sqrt(24))[0]).toBeCloseTo(1, 6);
  });

  it('lands on the predicted clean latents at the last step (sigma_next 0)', () => {
    const out = eulerStep(Float32Array.of(3), Float32Array.of(0.5), 2, 0);
    expect(out[0]).toBe(2); // x0 = x - sigma * eps
  });

  it('passes the timestep as int64', () => {
    expect(unetTimestep(999)).toEqual(BigInt64Array.of(999n));
  });
});
