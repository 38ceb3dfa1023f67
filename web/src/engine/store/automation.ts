/** `window.turbodraft.models`: the model store for browser tests, scripts and power users. */
import { ModelStore } from './client';
import type { StoreSettings, VariantState } from './types';

export interface ModelsAutomation {
  readonly store: ModelStore;
  list: ModelStore['list'];
  state: ModelStore['state'];
  download: ModelStore['download'];
  pause: ModelStore['pause'];
  cancel: ModelStore['cancel'];
  remove: ModelStore['remove'];
  clear: ModelStore['clear'];
  inspect: ModelStore['inspect'];
  configure: (settings: Partial<StoreSettings>) => Promise<StoreSettings>;
  /** Latest state per variant, synchronously. */
  snapshot: () => Record<string, VariantState>;
  /** Every state event since the page loaded (or since `events.length = 0`). */
  readonly events: VariantState[];
  /** What navigator.storage.persist() answered at the last download (null: not asked yet or no API). */
  persisted: () => boolean | null;
  on: (listener: (state: VariantState) => void) => () => void;
}

export function modelsAutomation(store: ModelStore): ModelsAutomation {
  const events: VariantState[] = [];
  store.subscribe((state) => events.push(state));
  return {
    store,
    list: () => store.list(),
    state: (id) => store.state(id),
    download: (id) => store.download(id),
    pause: (id) => store.pause(id),
    cancel: (id) => store.cancel(id),
    remove: (id) => store.remove(id),
    clear: () => store.clear(),
    inspect: () => store.inspect(),
    configure: (settings) => store.configure(settings),
    snapshot: () => store.snapshot(),
    events,
    persisted: () => store.persistence.persisted,
    on: (listener) => store.subscribe(listener),
  };
}
