/**
 * The model store proper, running in a dedicated worker (OPFS sync access handles exist only there): per-variant
 * state machine, quota check, file-by-file download with integrity retries, listing, pause/cancel/remove and
 * garbage collection of blobs no variant uses any more.
 */
import { bytesHeld, downloadFile, hasBlob } from './fileDownload';
import {
  journalName,
  names,
  partName,
  readRecord,
  readRecords,
  recordName,
  removeIfPresent,
  writeJson,
  type Layout,
  type VariantRecord,
} from './layout';
import { RateMeter, etaSeconds } from './rate';
import { fetchServed, type ServedFile, type ServedVariant } from './served';
import { openWritableLayout } from './support';
import {
  DEFAULT_SETTINGS,
  StoreError,
  type FileProgress,
  type StoreSettings,
  type StoreStatus,
  type VariantListing,
  type VariantState,
} from './types';

export type StateListener = (state: VariantState) => void;

interface Active {
  readonly controller: AbortController;
  /** Why it was stopped: a pause keeps the partials, a cancel or remove drops them. */
  stop: 'pause' | 'cancel' | null;
  readonly done: Promise<VariantState>;
  readonly shas: ReadonlySet<string>;
}

const PROGRESS_INTERVAL_MS = 100;
/** While downloading, state is sent at least this often, bytes arriving or not (the rate decays to 0). */
const HEARTBEAT_MS = 1000;

function formatGB(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export class ModelStoreCore {
  private settings: StoreSettings = DEFAULT_SETTINGS;
  private layoutPromise: Promise<Layout> | null = null;
  private readonly states = new Map<string, VariantState>();
  private readonly active = new Map<string, Active>();
  private readonly listeners = new Set<StateListener>();
  /** Downloads run one at a time: they share the disk and the connection, and blobs may be shared. */
  private queue: Promise<unknown> = Promise.resolve();
  private served: ServedVariant[] | null = null;
  private families: Readonly<Record<string, unknown>> = {};

  configure(settings: Partial<StoreSettings>): StoreSettings {
    this.settings = { ...this.settings, ...settings };
    this.served = null;
    return this.settings;
  }

  subscribe(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private layout(): Promise<Layout> {
    this.layoutPromise ??= openWritableLayout().catch((error: unknown) => {
      this.layoutPromise = null;
      throw error;
    });
    return this.layoutPromise;
  }

  private emit(state: VariantState): void {
    this.states.set(state.variant, state);
    for (const listener of this.listeners) listener(state);
  }

  /** The served manifest, or null when the gateway cannot be reached (offline). */
  private async servedVariants(required: boolean): Promise<ServedVariant[] | null> {
    try {
      const served = await fetchServed(this.settings.manifestUrl);
      this.served = served.variants;
      this.families = served.families;
    } catch (error) {
      if (required) throw error;
    }
    return this.served;
  }

  private async servedVariant(id: string): Promise<ServedVariant & { files: readonly ServedFile[] }> {
    const variants = (await this.servedVariants(true)) ?? [];
    const variant = variants.find((v) => v.id === id);
    if (variant === undefined) {
      const known = variants.map((v) => v.id).join(', ');
      throw new StoreError('unknown-variant', `the gateway offers no model ${JSON.stringify(id)} (it has: ${known})`);
    }
    if (variant.files === null) {
      const lacks = variant.missing.length > 0 ? ` (it lacks ${variant.missing.join(', ')})` : '';
      throw new StoreError(
        'not-mirrored',
        `the gateway does not have ${id} yet${lacks}; it can fetch it with \`turbodraft models pull ${id}\``,
      );
    }
    return { ...variant, files: variant.files };
  }

  /** State from what is on disk: a record means ready; partials or blobs without one mean paused. */
  private async stateOnDisk(id: string, served: ServedVariant | undefined): Promise<VariantState> {
    const layout = await this.layout();
    const record = await readRecord(layout, id);
    const files = served?.files ?? record?.files.map((f) => ({ ...f, url: '', required: true, chunks: null })) ?? [];
    const progress: FileProgress[] = [];
    for (const file of files) {
      const done = await bytesHeld(layout, file);
      progress.push({ path: file.path, sha256: file.sha256, size: file.size, done, status: done === file.size ? 'ready' : 'pending' });
    }
    const total = progress.reduce((n, f) => n + f.size, 0);
    const held = progress.reduce((n, f) => n + f.done, 0);
    const changed = record !== null && served?.files != null && !sameFiles(record.files, served.files);
    let status: StoreStatus = 'not-downloaded';
    if (record !== null) status = 'ready';
    else if (held > 0) status = 'paused';
    const recordFiles: FileProgress[] | null =
      record === null || !changed
        ? null
        : record.files.map((f) => ({ ...f, done: f.size, status: 'ready' as const }));
    return {
      variant: id,
      status,
      files: recordFiles ?? progress,
      bytesDone: recordFiles === null ? held : total,
      bytesTotal: recordFiles === null ? total : recordFiles.reduce((n, f) => n + f.size, 0),
      rate: 0,
      etaSeconds: null,
      error: null,
      integrityFailures: 0,
      updateAvailable: changed,
    };
  }

  async state(id: string): Promise<VariantState> {
    const known = this.states.get(id);
    if (known !== undefined && (this.active.has(id) || known.status === 'error')) return known;
    const served = (this.served ?? (await this.servedVariants(false)))?.find((v) => v.id === id);
    const state = await this.stateOnDisk(id, served);
    this.states.set(id, state);
    return state;
  }

  async list(): Promise<VariantListing[]> {
    const layout = await this.layout();
    const served = await this.servedVariants(false);
    const records = await readRecords(layout);
    const ids = [...new Set([...(served ?? []).map((v) => v.id), ...records.map((r) => r.id)])];
    const listings: VariantListing[] = [];
    for (const id of ids) {
      const offered = served?.find((v) => v.id === id);
      const record = records.find((r) => r.id === id);
      const state = await this.state(id);
      const files = offered?.files ?? record?.files ?? [];
      const size = files.reduce((n, f) => n + f.size, 0);
      listings.push({
        id,
        description: offered?.description ?? record?.description ?? '',
        size,
        sizeEstimate: offered?.files != null || offered === undefined ? size : offered.sizeEstimate,
        available: offered?.files != null,
        gatewayCopy: offered === undefined ? (served === null ? 'offline' : 'absent') : offered.mirrorState,
        missing: offered?.missing ?? [],
        licenses: offered?.licenses ?? record?.licenses ?? [],
        state,
      });
    }
    return listings;
  }

  /** Starts (or resumes) a download; resolves with the final state, which may be 'error' or 'paused'. */
  download(id: string): Promise<VariantState> {
    const running = this.active.get(id);
    if (running !== undefined) return running.done;
    const controller = new AbortController();
    const shas = new Set<string>();
    const done = this.queue.then(() => this.run(id, controller.signal, shas, entry));
    const entry: Active = { controller, stop: null, done, shas };
    this.active.set(id, entry);
    this.queue = done.catch(() => undefined);
    void done.finally(() => {
      if (this.active.get(id) === entry) this.active.delete(id);
    });
    return done;
  }

  async pause(id: string): Promise<VariantState> {
    return this.stop(id, 'pause');
  }

  /** Stops a download and drops its partial files; a stored older revision stays usable. */
  async cancel(id: string): Promise<VariantState> {
    await this.stop(id, 'cancel');
    await this.collectGarbage(await this.filesOf(id));
    this.states.delete(id);
    const state = await this.state(id);
    this.emit(state);
    return state;
  }

  async remove(id: string): Promise<VariantState> {
    await this.stop(id, 'cancel');
    const layout = await this.layout();
    const drop = await this.filesOf(id);
    await removeIfPresent(layout.variants, recordName(id));
    await this.collectGarbage(drop);
    this.states.delete(id);
    const state = await this.state(id);
    this.emit(state);
    return state;
  }

  /** Removes every stored model and partial (tests, and a "free the space" button). */
  async clear(): Promise<void> {
    await Promise.all([...this.active.keys()].map((id) => this.stop(id, 'cancel')));
    const layout = await this.layout();
    for (const dir of [layout.variants, layout.partial, layout.blobs]) {
      for (const name of await names(dir)) await removeIfPresent(dir, name);
    }
    this.states.clear();
  }

  /** Every entry under the store's directories, for tests and diagnostics. */
  async inspect(): Promise<{ blobs: string[]; partial: string[]; variants: string[] }> {
    const layout = await this.layout();
    return { blobs: await names(layout.blobs), partial: await names(layout.partial), variants: await names(layout.variants) };
  }

  private async stop(id: string, why: 'pause' | 'cancel'): Promise<VariantState> {
    const running = this.active.get(id);
    if (running === undefined) return this.state(id);
    running.stop = why;
    running.controller.abort(new StoreError('cancelled', `${id}: ${why === 'pause' ? 'paused' : 'cancelled'}`));
    return running.done;
  }

  /** The blobs a variant uses: its served files and its stored record's. */
  private async filesOf(id: string): Promise<Set<string>> {
    const layout = await this.layout();
    const shas = new Set<string>();
    for (const f of this.served?.find((v) => v.id === id)?.files ?? []) shas.add(f.sha256);
    for (const f of (await readRecord(layout, id))?.files ?? []) shas.add(f.sha256);
    return shas;
  }

  private async run(id: string, signal: AbortSignal, shas: Set<string>, entry: Active): Promise<VariantState> {
    const meter = new RateMeter();
    let state: VariantState = (await this.state(id).catch(() => null)) ?? emptyState(id);
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    const update = (patch: Partial<VariantState>): void => {
      state = { ...state, ...patch };
      this.emit(state);
    };
    try {
      signal.throwIfAborted();
      const layout = await this.layout();
      const variant = await this.servedVariant(id);
      for (const file of variant.files) shas.add(file.sha256);
      const files: FileProgress[] = [];
      for (const f of variant.files) {
        const done = await bytesHeld(layout, f);
        files.push({ path: f.path, sha256: f.sha256, size: f.size, done, status: done === f.size ? 'ready' : 'pending' });
      }
      const total = files.reduce((n, f) => n + f.size, 0);
      const held = files.reduce((n, f) => n + f.done, 0);
      update({ status: 'downloading', files, bytesTotal: total, bytesDone: held, error: null, rate: 0, etaSeconds: null });
      await this.checkQuota(total - held);

      const started = performance.now();
      let sessionBytes = 0;
      let lastEmit = 0;
      meter.add(started, 0);
      // A stalled or slow link still gets a state a second: the rate falls as no bytes come.
      heartbeat = setInterval(() => {
        const now = performance.now();
        if (now - lastEmit < HEARTBEAT_MS || state.status !== 'downloading') return;
        lastEmit = now;
        meter.add(now, sessionBytes);
        const rate = meter.rate();
        update({ rate, etaSeconds: etaSeconds(total - files.reduce((n, f) => n + f.done, 0), rate) });
      }, HEARTBEAT_MS);

      for (let index = 0; index < variant.files.length; index++) {
        const file = variant.files[index];
        if (file === undefined) continue;
        let failures = 0;
        for (;;) {
          let before = files[index]?.done ?? 0;
          try {
            await downloadFile(file, {
              layout,
              settings: this.settings,
              signal,
              onProgress: (done, status) => {
                const now = performance.now();
                if (done > before) sessionBytes += done - before;
                before = done;
                files[index] = { ...(files[index] ?? { path: file.path, sha256: file.sha256, size: file.size }), done, status };
                meter.add(now, sessionBytes);
                const doneAll = files.reduce((n, f) => n + f.done, 0);
                if (status !== 'downloading' || now - lastEmit >= PROGRESS_INTERVAL_MS) {
                  lastEmit = now;
                  const rate = meter.rate();
                  update({
                    status: status === 'verifying' ? 'verifying' : 'downloading',
                    files: [...files],
                    bytesDone: doneAll,
                    rate,
                    etaSeconds: etaSeconds(total - doneAll, rate),
                  });
                }
              },
            });
            break;
          } catch (error) {
            if (!(error instanceof StoreError) || error.code !== 'integrity-mismatch') throw error;
            failures++;
            // A failed chunk leaves the verified ones in place; a failed whole file leaves nothing.
            const kept = await bytesHeld(layout, file);
            files[index] = { path: file.path, sha256: file.sha256, size: file.size, done: kept, status: 'error' };
            update({
              files: [...files],
              bytesDone: files.reduce((n, f) => n + f.done, 0),
              error: error.toWire(),
              integrityFailures: state.integrityFailures + 1,
            });
            if (failures > this.settings.maxIntegrityRetries) throw error;
          }
        }
      }
      clearInterval(heartbeat);
      heartbeat = undefined;
      await this.commitRecord(layout, variant);
      const elapsed = (performance.now() - started) / 1000;
      update({
        status: 'ready',
        files: files.map((f) => ({ ...f, done: f.size, status: 'ready' as const })),
        bytesDone: total,
        rate: elapsed > 0 ? sessionBytes / elapsed : 0,
        etaSeconds: 0,
        error: null,
        updateAvailable: false,
        integrityFailures: 0,
      });
      return state;
    } catch (error) {
      if (signal.aborted && entry.stop !== null) {
        const paused = entry.stop === 'pause';
        // What is kept is what the journals say now (requests in flight handed their bytes back on the way out).
        const kept = paused ? await this.stateOnDisk(id, this.served?.find((v) => v.id === id)).catch(() => null) : null;
        const held = kept === null ? {} : { files: kept.files, bytesDone: kept.bytesDone };
        update({ status: paused ? 'paused' : 'not-downloaded', rate: 0, etaSeconds: null, error: null, ...held });
        if (!paused) this.states.delete(id);
        return state;
      }
      const wire = StoreError.wrap(error, 'network-error', `downloading ${id} failed`).toWire();
      update({ status: 'error', rate: 0, etaSeconds: null, error: wire });
      return state;
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async checkQuota(needed: number): Promise<void> {
    if (needed <= 0) return;
    const estimate = this.settings.storageEstimate ?? (await navigator.storage.estimate());
    const quota = estimate.quota ?? 0;
    const usage = estimate.usage ?? 0;
    const free = Math.max(0, quota - usage);
    if (needed > free) {
      throw new StoreError(
        'quota-exceeded',
        `not enough storage: this model needs ${String(needed)} bytes (${formatGB(needed)}) more, but only ` +
          `${String(free)} bytes (${formatGB(free)}) are free for this site (quota ${String(quota)}, used ${String(usage)})`,
      );
    }
  }

  private async commitRecord(layout: Layout, variant: ServedVariant & { files: readonly ServedFile[] }): Promise<void> {
    for (const file of variant.files) {
      if (!(await hasBlob(layout, file))) {
        throw new StoreError('storage-unavailable', `${file.path} vanished from storage before ${variant.id} was complete`, file.path);
      }
    }
    const record: VariantRecord = {
      version: 1,
      id: variant.id,
      description: variant.description,
      files: variant.files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      savedAt: new Date().toISOString(),
      definition: variant.definition,
      families: this.families,
      licenses: variant.licenses,
    };
    await writeJson(layout.variants, recordName(variant.id), record);
    await this.collectGarbage();
  }

  /**
   * Deletes blobs and partials nobody needs: kept are those of stored variants, running downloads and (unless
   * in `drop`) files the gateway still serves, which keeps a paused variant's finished files. An old revision's
   * files are no longer served, so they go once the new record is written. Offline, only `drop` goes.
   */
  private async collectGarbage(drop: ReadonlySet<string> = new Set()): Promise<void> {
    const layout = await this.layout();
    const referenced = new Set<string>();
    for (const record of await readRecords(layout)) for (const f of record.files) referenced.add(f.sha256);
    for (const entry of this.active.values()) for (const sha of entry.shas) referenced.add(sha);
    const served = new Set<string>();
    for (const v of this.served ?? []) for (const f of v.files ?? []) served.add(f.sha256);
    const keep = (sha: string): boolean =>
      referenced.has(sha) || (!drop.has(sha) && (this.served === null || served.has(sha)));
    for (const name of await names(layout.blobs)) if (!keep(name)) await removeIfPresent(layout.blobs, name);
    for (const name of await names(layout.partial)) {
      const sha = name.replace(/\.(part|json)$/, '');
      if ((name === partName(sha) || name === journalName(sha)) && !keep(sha)) await removeIfPresent(layout.partial, name);
    }
  }
}

function sameFiles(a: readonly { path: string; sha256: string }[], b: readonly { path: string; sha256: string }[]): boolean {
  if (a.length !== b.length) return false;
  const key = (f: { path: string; sha256: string }): string => `${f.path}\u0000${f.sha256}`;
  const set = new Set(a.map(key));
  return b.every((f) => set.has(key(f)));
}

function emptyState(id: string): VariantState {
  return {
    variant: id,
    status: 'not-downloaded',
    files: [],
    bytesDone: 0,
    bytesTotal: 0,
    rate: 0,
    etaSeconds: null,
    error: null,
    integrityFailures: 0,
    updateAvailable: false,
  };
}
