/**
 * The page's handle on the model store: starts its worker, asks for persistent storage (a Window-only API)
 * before a download, and fans state events out to listeners (the progress UI, `window.turbodraft.models`).
 */
import * as Comlink from 'comlink';
import type { StoreReply, StoreWorkerApi } from './worker';
import {
  StoreError,
  type PersistReport,
  type StoreSettings,
  type VariantListing,
  type VariantState,
} from './types';

export type Listener = (state: VariantState) => void;

function unwrap<T>(reply: StoreReply<T>): T {
  if (reply.ok) return reply.value;
  throw StoreError.fromWire(reply.error);
}

export class ModelStore {
  private remote: Comlink.Remote<StoreWorkerApi> | null = null;
  private connecting: Promise<Comlink.Remote<StoreWorkerApi>> | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly latest = new Map<string, VariantState>();
  private persist: PersistReport = { persisted: null };
  private readonly settings: Partial<StoreSettings>;

  constructor(settings: Partial<StoreSettings> = {}) {
    this.settings = settings;
  }

  /** Latest known state per variant (synchronous, for UIs and polling tests). */
  snapshot(): Record<string, VariantState> {
    return Object.fromEntries(this.latest);
  }

  get persistence(): PersistReport {
    return this.persist;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async configure(settings: Partial<StoreSettings>): Promise<StoreSettings> {
    return unwrap(await (await this.connect()).configure(settings));
  }

  async list(): Promise<VariantListing[]> {
    const listings = unwrap(await (await this.connect()).list());
    for (const listing of listings) this.publish(listing.state);
    return listings;
  }

  async state(id: string): Promise<VariantState> {
    return this.publish(unwrap(await (await this.connect()).state(id)));
  }

  /**
   * Downloads (or resumes) a variant; resolves with its final state ('ready', 'paused' or 'error' with a
   * message) rather than throwing, so a UI can show it. Asks for persistent storage alongside.
   */
  async download(id: string): Promise<VariantState> {
    const remote = await this.connect();
    // Not awaited: Firefox settles persist() only once the user answers its permission prompt (never, under
    // automation), and the download must not wait on that.
    void this.requestPersistence();
    return this.publish(unwrap(await remote.download(id)));
  }

  async pause(id: string): Promise<VariantState> {
    return this.publish(unwrap(await (await this.connect()).pause(id)));
  }

  async cancel(id: string): Promise<VariantState> {
    return this.publish(unwrap(await (await this.connect()).cancel(id)));
  }

  async remove(id: string): Promise<VariantState> {
    return this.publish(unwrap(await (await this.connect()).remove(id)));
  }

  async clear(): Promise<void> {
    unwrap(await (await this.connect()).clear());
    this.latest.clear();
  }

  async inspect(): Promise<{ blobs: string[]; partial: string[]; variants: string[] }> {
    return unwrap(await (await this.connect()).inspect());
  }

  /** navigator.storage.persist(): exempts the origin from eviction where the browser agrees. */
  async requestPersistence(): Promise<PersistReport> {
    const storage = navigator.storage as StorageManager | undefined;
    if (storage?.persist === undefined) {
      this.persist = { persisted: null };
    } else {
      try {
        this.persist = { persisted: (await storage.persisted()) || (await storage.persist()) };
      } catch {
        this.persist = { persisted: null };
      }
    }
    return this.persist;
  }

  private publish(state: VariantState): VariantState {
    this.latest.set(state.variant, state);
    for (const listener of this.listeners) listener(state);
    return state;
  }

  private connect(): Promise<Comlink.Remote<StoreWorkerApi>> {
    if (this.remote !== null) return Promise.resolve(this.remote);
    this.connecting ??= (async () => {
      const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'turbodraft-model-store' });
      const remote = Comlink.wrap<StoreWorkerApi>(worker);
      unwrap(await remote.subscribe(Comlink.proxy((state: VariantState) => this.publish(state))));
      if (Object.keys(this.settings).length > 0) unwrap(await remote.configure(this.settings));
      this.remote = remote;
      return remote;
    })();
    return this.connecting;
  }
}
