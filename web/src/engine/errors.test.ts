import { describe, expect, it } from 'vitest';
import { EngineError, isEngineErrorWire } from './errors';

describe('EngineError', () => {
  it('survives structured cloning through its wire form with code, message and stage', () => {
    const original = new EngineError('bad-output', 'unet step 1 produced all zeros', 'unet step 1');
    const copy = EngineError.fromWire(structuredClone(original.toWire()));
    expect(copy).toBeInstanceOf(EngineError);
    expect([copy.code, copy.message, copy.stage, copy.name]).toEqual([
      'bad-output',
      'unet step 1 produced all zeros',
      'unet step 1',
      'EngineError',
    ]);
  });

  it('wraps a library error with context and keeps an EngineError as it is', () => {
    const wrapped = EngineError.wrap(new Error('boom'), 'inference-failed', 'unet failed');
    expect([wrapped.code, wrapped.message]).toEqual(['inference-failed', 'unet failed: boom']);
    const typed = new EngineError('invalid-seed', 'x');
    expect(EngineError.wrap(typed, 'inference-failed', 'y')).toBe(typed);
  });

  it('recognises its wire form only', () => {
    expect(isEngineErrorWire(new EngineError('cancelled', 'c').toWire())).toBe(true);
    expect(isEngineErrorWire({ message: 'plain' })).toBe(false);
  });
});
