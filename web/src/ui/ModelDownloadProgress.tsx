/**
 * One model variant's download: size, percent, MB/s, ETA, pause/resume/cancel/remove, whether storage is
 * persisted, and a consent step before a large download starts (multi-GB models should never start on a click
 * that did not say how big they are).
 */
import { useEffect, useState } from 'react';
import type { ModelStore } from '../engine/store/client';
import type { VariantListing, VariantState } from '../engine/store/types';
import { formatBytes } from '../format';
import './ModelDownloadProgress.css';

/** Downloads at least this big ask first. */
export const DEFAULT_CONSENT_BYTES = 100 * 1024 * 1024;

export interface ModelDownloadProgressProps {
  readonly store: ModelStore;
  readonly listing: VariantListing;
  readonly consentAboveBytes?: number;
}

function useVariantState(store: ModelStore, initial: VariantState): VariantState {
  // Events replace the listing's snapshot; a new listing (a re-list) starts from its own snapshot again.
  const [latest, setLatest] = useState<{ from: VariantState; state: VariantState } | null>(null);
  useEffect(
    () =>
      store.subscribe((next) => {
        if (next.variant === initial.variant) setLatest({ from: initial, state: next });
      }),
    [store, initial],
  );
  return latest !== null && latest.from === initial ? latest.state : initial;
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB/s`;
}

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.ceil(seconds);
  if (s < 60) return `${String(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${String(m)} min ${String(s % 60)} s`;
  return `${String(Math.floor(m / 60))} h ${String(m % 60)} min`;
}

const STATUS_TEXT: Record<VariantState['status'], string> = {
  'not-downloaded': 'Not downloaded',
  downloading: 'Downloading',
  verifying: 'Verifying',
  ready: 'Ready (stored in this browser)',
  paused: 'Paused',
  error: 'Error',
};

function persistedText(persisted: boolean | null): string {
  if (persisted === null) return 'not asked yet';
  return persisted ? 'persisted (not evicted under storage pressure)' : 'best-effort (the browser may evict it)';
}

export function ModelDownloadProgress({ store, listing, consentAboveBytes = DEFAULT_CONSENT_BYTES }: ModelDownloadProgressProps) {
  const state = useVariantState(store, listing.state);
  const [asking, setAsking] = useState(false);
  const [persisted, setPersisted] = useState(store.persistence.persisted);
  const total = state.bytesTotal || listing.size;
  const percent = total > 0 ? Math.min(100, (state.bytesDone / total) * 100) : 0;
  const busy = state.status === 'downloading' || state.status === 'verifying';

  const start = (): void => {
    setAsking(false);
    void store.download(listing.id).finally(() => {
      setPersisted(store.persistence.persisted);
    });
  };
  const onDownload = (): void => {
    if (total >= consentAboveBytes) setAsking(true);
    else start();
  };

  return (
    <section className="model-download" data-testid={`model-${listing.id}`} data-status={state.status}>
      <header>
        <strong className="model-name">{listing.id}</strong>
        <span className="model-size">{formatBytes(total)}</span>
        <span className={`model-status status-${state.status}`}>{STATUS_TEXT[state.status]}</span>
      </header>
      {listing.description && <p className="model-description">{listing.description}</p>}
      {(busy || state.status === 'paused' || (state.status === 'error' && state.bytesDone > 0)) && (
        <div className="model-progress">
          <progress max={100} value={percent} aria-label={`${listing.id} download progress`} />
          <span data-testid="percent">{percent.toFixed(1)} %</span>
          <span>
            {formatBytes(state.bytesDone)} of {formatBytes(total)}
          </span>
          {busy && <span data-testid="rate">{formatRate(state.rate)}</span>}
          {busy && <span data-testid="eta">ETA {formatEta(state.etaSeconds)}</span>}
        </div>
      )}
      {state.updateAvailable && <p className="model-note">A newer revision is available; downloading fetches only the changed files.</p>}
      {state.error && (
        <p className="model-error" role="alert">
          {state.error.message}
        </p>
      )}
      {asking && (
        <div className="model-consent" role="dialog" aria-label="Confirm download">
          <p>
            This stores <strong>{formatBytes(total - state.bytesDone)}</strong> of model files in this browser
            (Origin Private File System). They stay until you remove them.
          </p>
          <button type="button" onClick={start}>
            Download {formatBytes(total - state.bytesDone)}
          </button>
          <button
            type="button"
            onClick={() => {
              setAsking(false);
            }}
          >
            Not now
          </button>
        </div>
      )}
      <div className="model-actions">
        {!asking && !busy && state.status !== 'ready' && state.status !== 'paused' && (
          <button type="button" disabled={!listing.available} onClick={onDownload}>
            {state.status === 'error' && state.bytesDone > 0 ? 'Retry' : 'Download'}
          </button>
        )}
        {state.status === 'ready' && state.updateAvailable && listing.available && (
          <button type="button" onClick={start}>
            Update
          </button>
        )}
        {busy && (
          <button type="button" onClick={() => void store.pause(listing.id)}>
            Pause
          </button>
        )}
        {state.status === 'paused' && (
          <button type="button" disabled={!listing.available} onClick={start}>
            Resume
          </button>
        )}
        {(busy || state.status === 'paused') && (
          <button type="button" onClick={() => void store.cancel(listing.id)}>
            Cancel
          </button>
        )}
        {state.status === 'ready' && (
          <button type="button" onClick={() => void store.remove(listing.id)}>
            Remove
          </button>
        )}
      </div>
      <p className="model-persisted" data-testid="persisted">
        Storage: {persistedText(persisted)}
      </p>
    </section>
  );
}
