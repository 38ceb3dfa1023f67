/**
 * The model store's public vocabulary: per-variant states, progress events, settings and typed errors.
 * Everything here is plain data, so it crosses the store worker's boundary by structured clone unchanged.
 */

/** not-downloaded -> downloading -> verifying -> ready, or paused / error on the way. */
export type StoreStatus = 'not-downloaded' | 'downloading' | 'verifying' | 'ready' | 'paused' | 'error';

export type StoreErrorCode =
  | 'quota-exceeded'
  | 'integrity-mismatch'
  | 'http-error'
  | 'network-error'
  | 'bad-manifest'
  | 'unknown-variant'
  | 'not-mirrored'
  | 'storage-unavailable'
  | 'busy'
  | 'cancelled';

export interface StoreErrorWire {
  readonly code: StoreErrorCode;
  readonly message: string;
  /** The file the error is about, where there is one ("unet/model.onnx"). */
  readonly path?: string;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  readonly path: string | undefined;

  constructor(code: StoreErrorCode, message: string, path?: string) {
    super(message);
    this.code = code;
    this.path = path;
  }

  toWire(): StoreErrorWire {
    return { code: this.code, message: this.message, ...(this.path === undefined ? {} : { path: this.path }) };
  }

  static fromWire(wire: StoreErrorWire): StoreError {
    return new StoreError(wire.code, wire.message, wire.path);
  }

  static wrap(error: unknown, code: StoreErrorCode, context: string, path?: string): StoreError {
    if (error instanceof StoreError) return error;
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new StoreError(code, `${context}: ${detail}`, path);
  }
}

/** 'retrying': the connection failed and the next attempt waits out its backoff. */
export type FileStatus = 'pending' | 'downloading' | 'retrying' | 'verifying' | 'ready' | 'error';

export interface FileProgress {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Bytes written and committed (resumable) or, while verifying a complete file, bytes hashed. */
  readonly done: number;
  readonly status: FileStatus;
}

export interface VariantState {
  readonly variant: string;
  readonly status: StoreStatus;
  readonly files: readonly FileProgress[];
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Bytes per second over the last few seconds of this session; 0 when idle. */
  readonly rate: number;
  /** Seconds to completion at `rate`; null when unknown (idle, or no rate yet). */
  readonly etaSeconds: number | null;
  readonly error: StoreErrorWire | null;
  /** A file failed verification and was fetched again (cleared when the variant becomes ready). */
  readonly integrityFailures: number;
  /** Whether the stored copy is older than the served manifest (some files changed). */
  readonly updateAvailable: boolean;
}

/** Tuning and test hooks. Defaults suit multi-GB models; tests shrink chunks and delays. */
export interface StoreSettings {
  readonly manifestUrl: string;
  /**
   * Bytes per Range request, and how often a resumable checkpoint is written, for files checked as one
   * stream. Files the manifest gives chunk hashes for are fetched in the gateway's chunks instead.
   */
  readonly chunkBytes: number;
  /** Use the manifest's chunk hashes where it has them; false checks every file as one stream (hash-wasm). */
  readonly chunkHashes: boolean;
  /** Chunk requests in flight at once for a file with chunk hashes (each holds one chunk in memory). */
  readonly parallelChunks: number;
  /** Attempts per chunk after a network error or a 5xx, with exponential backoff from `retryDelayMs`. */
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  /** Times a file is fetched again after failing verification before the variant errors. */
  readonly maxIntegrityRetries: number;
  /** Test hook: pretend navigator.storage.estimate() said this. */
  readonly storageEstimate: { readonly quota: number; readonly usage: number } | null;
}

export const DEFAULT_SETTINGS: StoreSettings = {
  manifestUrl: '/models/manifest.json',
  chunkBytes: 32 * 1024 * 1024,
  chunkHashes: true,
  parallelChunks: 3,
  maxRetries: 5,
  retryDelayMs: 500,
  maxIntegrityRetries: 1,
  storageEstimate: null,
};

/** One licence of a variant, as the manifest lists it. */
export interface LicenseInfo {
  readonly name: string;
  readonly url: string;
  /** What it covers ("SD-Turbo ... weights"). */
  readonly covers: string;
}

/**
 * Where the gateway has the variant: in its mirror, as a repository fixture, not at all, or a damaged copy;
 * 'offline' when the gateway could not be asked (the listing comes from this browser's copy).
 */
export type GatewayCopy = 'mirrored' | 'fixture' | 'absent' | 'damaged' | 'offline';

/** One entry of `list()`: what the gateway offers merged with what this browser holds. */
export interface VariantListing {
  readonly id: string;
  readonly description: string;
  /** Bytes of the served revision (or of the stored copy when offline); 0 when the gateway has no copy. */
  readonly size: number;
  /**
   * Bytes the variant will take: `size` where the gateway has it, else the manifest's estimate (the Hub's
   * rounded figures); null when unknown.
   */
  readonly sizeEstimate: number | null;
  /** Whether the gateway can serve it (every required file has a URL); false when offline or absent there. */
  readonly available: boolean;
  /** Whether the gateway holds it (see GatewayCopy). */
  readonly gatewayCopy: GatewayCopy;
  /** Required files the gateway lacks. */
  readonly missing: readonly string[];
  readonly licenses: readonly LicenseInfo[];
  readonly state: VariantState;
}

export interface PersistReport {
  /** What navigator.storage.persist() answered; null where the API is missing. */
  readonly persisted: boolean | null;
}
