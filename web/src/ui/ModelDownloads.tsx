/** The list of model variants the gateway offers (or this browser holds), each with its download control. */
import { useEffect, useState } from 'react';
import type { ModelStore } from '../engine/store/client';
import type { VariantListing } from '../engine/store/types';
import { DEFAULT_CONSENT_BYTES, ModelDownloadProgress } from './ModelDownloadProgress';

/** `?consentAbove=<bytes>` lowers the consent threshold, so the consent step can be exercised with tiny models. */
function consentThreshold(): number {
  const raw = new URLSearchParams(window.location.search).get('consentAbove');
  const value = raw === null ? Number.NaN : Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_CONSENT_BYTES;
}

export function ModelDownloads({ store }: { store: ModelStore }) {
  const [listings, setListings] = useState<VariantListing[] | null>(null);
  const [error, setError] = useState<string | null>(null);
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
    return () => {
      live = false;
    };
  }, [store]);
  const threshold = consentThreshold();
  return (
    <section className="models" data-testid="model-downloads" data-state={listings === null ? 'loading' : 'ready'}>
      <h2>Models in this browser</h2>
      {error !== null && <p className="model-error" role="alert">{error}</p>}
      {listings === null && error === null && <p>Looking for models…</p>}
      {listings?.map((listing) => (
        <ModelDownloadProgress key={listing.id} store={store} listing={listing} consentAboveBytes={threshold} />
      ))}
    </section>
  );
}
