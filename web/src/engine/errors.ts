/**
 * Typed engine failures. An `EngineError` crosses the worker boundary as plain data (`toWire`/`fromWire`):
 * structured clone keeps only `message` and `name` of an Error, so the code and details would otherwise be lost.
 */

export type EngineErrorCode =
  // The caller's fault: the request cannot be generated as asked.
  | 'invalid-prompt'
  | 'invalid-seed'
  | 'invalid-steps'
  | 'invalid-size'
  | 'invalid-strength'
  | 'invalid-init-image'
  | 'invalid-latents'
  | 'unknown-model'
  | 'unsupported-by-model'
  // The canvas tools' (engine/tools) input faults, and a tool whose model is not in the store.
  | 'invalid-image'
  | 'image-too-large'
  | 'invalid-option'
  | 'model-not-downloaded'
  // The machine's or the model's fault.
  | 'backend-unavailable'
  | 'model-load-failed'
  | 'bad-output'
  | 'device-lost'
  | 'inference-failed'
  | 'encode-failed'
  // Not failures of the request itself: a newer request or the caller stopped it.
  | 'cancelled'
  | 'superseded'
  | 'disposed';

export interface EngineErrorWire {
  readonly kind: 'engine-error';
  readonly code: EngineErrorCode;
  readonly message: string;
  readonly stage?: string;
}

export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: EngineErrorCode;
  /** The pipeline stage that failed, where one did. */
  readonly stage: string | undefined;

  constructor(code: EngineErrorCode, message: string, stage?: string) {
    super(message);
    this.code = code;
    this.stage = stage;
  }

  toWire(): EngineErrorWire {
    return {
      kind: 'engine-error',
      code: this.code,
      message: this.message,
      ...(this.stage === undefined ? {} : { stage: this.stage }),
    };
  }

  static fromWire(wire: EngineErrorWire): EngineError {
    return new EngineError(wire.code, wire.message, wire.stage);
  }

  /** Wrap anything thrown by a library (ORT throws plain Errors or strings) so callers only see EngineErrors. */
  static wrap(error: unknown, code: EngineErrorCode, context: string, stage?: string): EngineError {
    if (error instanceof EngineError) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new EngineError(code, `${context}: ${detail}`, stage);
  }
}

export function isEngineErrorWire(value: unknown): value is EngineErrorWire {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'engine-error' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
