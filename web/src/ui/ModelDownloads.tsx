/**
 * The list of model variants the gateway offers (or this browser holds), each with its download control, and
 * how much this site stores. Whether the gateway may fetch models it lacks (the admin's setting) is asked once
 * here, so each variant can say what to do: Download, or the command for the gateway's admin.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ModelStore } from '../engine/store/client';
import { GatewayPulls, type PullsInfo } from '../engine/store/gatewayPulls';
import type { VariantListing } from '../engine/store/types';
import { formatBytes } from '../format';
import { DEFAULT_CONSENT_BYTES, ModelDownloadProgress } from './ModelDownloadProgress';

/** `?consentAbove=<bytes>` lowers the consent threshold, so the consent step can be exercised with tiny models. */
function consentThreshold(): number {
  const raw = new URLSearchParams(window.location.search).get('consentAbove');
  const value = raw === null ? Number.NaN : Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_CONSENT_BYTES;
}

const NOT_ALLOWED: PullsInfo = { allowed: false, reason: 'the gateway could not be asked', pulls: [] };

/** `navigator.storage.estimate()`: what this site stores (models, app cache, canvas) and may store. */
function useStorageUsed(store: ModelStore): { usage: number; quota: number } | null {
  const [used, setUsed] = useState<{ usage: number; quota: number } | null>(null);
  useEffect(() => {
    let live = true;
    const measure = (): void => {
      const storage = navigator.storage as StorageManager | undefined;
      if (storage?.estimate === undefined) return;
      storage.estimate().then(
        (estimate) => {
          if (live) setUsed({ usage: estimate.usage ?? 0, quota: estimate.quota ?? 0 });
        },
        () => undefined,
      );
    };
    measure();
    // After a download finishes, is removed or cancelled, the figure changes.
    const unsubscribe = store.subscribe((state) => {
      if (state.status === 'ready' || state.status === 'not-downloaded' || state.status === 'paused') measure();
    });
    return () => {
      live = false;
      unsubscribe();
    };
  }, [store]);
  return used;
}

export function ModelDownloads({ store, pulls }: { store: ModelStore; pulls?: GatewayPulls }) {
  const [gateway] = useState(() => pulls ?? new GatewayPulls());
  const [listings, setListings] = useState<VariantListing[] | null>(null);
  const [pullsInfo, setPullsInfo] = useState<PullsInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const used = useStorageUsed(store);

  const relist = useCallback((): Promise<void> => {
    return store.list().then(
      (found) => {
        setListings(found);
        setError(null);
      },
      (e: unknown) => {
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, [store]);

  useEffect(() => {
    let live = true;
    store.list().then(
      (found) => {
        if (live) setListings(found);
      },
      (e: unknown) => {
        if (live) setError(e instanceof Error ? e.message : String(e));
      },
    );
    gateway.info().then(
      (info) => {
        if (live) setPullsInfo(info);
      },
      () => {
        // No answer (offline, or a gateway that wants a token this page lacks): say what the admin can do.
        if (live) setPullsInfo(NOT_ALLOWED);
      },
    );
    return () => {
      live = false;
    };
  }, [store, gateway]);
  const threshold = consentThreshold();
  return (
    <section className="models" data-testid="model-downloads" data-state={listings === null ? 'loading' : 'ready'}>
      <h2>Models in this browser</h2>
      <p className="model-storage" data-testid="storage-used">
        Storage used: {used === null ? 'unknown' : `${formatBytes(used.usage)} of ${formatBytes(used.quota)} available to this site`}
      </p>
      {error !== null && <p className="model-error" role="alert">{error}</p>}
      {listings === null && error === null && <p>Looking for models…</p>}
      {listings?.map((listing) => (
        <ModelDownloadProgress
          key={listing.id}
          store={store}
          listing={listing}
          consentAboveBytes={threshold}
          pulls={gateway}
          pullsInfo={pullsInfo}
          onGatewayChanged={relist}
        />
      ))}
    </section>
  );
}
