/**
 * The store's dedicated worker: OPFS sync access handles (the fast write path) exist only in dedicated workers.
 * A thin Comlink layer over `ModelStoreCore`; replies carry errors as data, since structured clone drops codes.
 */
import * as Comlink from 'comlink';
import { ModelStoreCore, type StateListener } from './store';
import { StoreError, type StoreErrorWire, type StoreSettings } from './types';

export type StoreReply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: StoreErrorWire };

async function reply<T>(work: () => Promise<T> | T): Promise<StoreReply<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: StoreError.wrap(error, 'storage-unavailable', 'model store failure').toWire() };
  }
}

const core = new ModelStoreCore();

const api = {
  configure: (settings: Partial<StoreSettings>) => reply(() => core.configure(settings)),
  subscribe: (listener: StateListener) => reply(() => {
    core.subscribe(listener);
    return null;
  }),
  list: () => reply(() => core.list()),
  state: (id: string) => reply(() => core.state(id)),
  download: (id: string) => reply(() => core.download(id)),
  pause: (id: string) => reply(() => core.pause(id)),
  cancel: (id: string) => reply(() => core.cancel(id)),
  remove: (id: string) => reply(() => core.remove(id)),
  clear: () => reply(() => core.clear()),
  inspect: () => reply(() => core.inspect()),
};

export type StoreWorkerApi = typeof api;

Comlink.expose(api);
