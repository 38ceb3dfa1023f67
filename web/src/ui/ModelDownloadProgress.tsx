/**
 * One model variant: what it is, its licences, its size, and what to do to get it into this browser.
 *
 * - The gateway has it: Download (with consent above a size), progress in bytes as they arrive, MB/s, ETA,
 *   pause (the bytes fetched are kept) / resume / cancel, then "Ready"; Remove frees the space.
 * - The gateway lacks it and may fetch models (its admin's setting): Download asks the gateway to fetch it
 *   (progress shown here), then downloads it into this browser, one click.
 * - The gateway lacks it and may not: the exact `turbodraft models pull ...` command for its admin.
 * Store codes ("not-downloaded", "not-mirrored") are never shown: each state has words.
 */
import { useEffect, useRef, useState } from 'react';
import type { ModelStore } from '../engine/store/client';
import type { GatewayPulls, PullView, PullsInfo } from '../engine/store/gatewayPulls';
import { RateMeter, etaSeconds } from '../engine/store/rate';
import type { VariantListing, VariantState } from '../engine/store/types';
import { formatBytes } from '../format';
import './ModelDownloadProgress.css';

/** Downloads at least this big ask first. */
export const DEFAULT_CONSENT_BYTES = 100 * 1024 * 1024;
/** How often a gateway pull's progress is asked for while it runs. */
const POLL_MS = 500;

export interface ModelDownloadProgressProps {
  readonly store: ModelStore;
  readonly listing: VariantListing;
  readonly consentAboveBytes?: number;
  /** The gateway's model pulls; without it the panel only offers what the gateway already has. */
  readonly pulls?: GatewayPulls;
  /** Whether the gateway may fetch models (null: not known yet). */
  readonly pullsInfo?: PullsInfo | null;
  /** Called when the gateway's copy changed (a pull finished), so the list is read again. */
  readonly onGatewayChanged?: () => Promise<void>;
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

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface GatewayPull {
  readonly view: PullView | null;
  readonly rate: number;
  readonly failure: string | null;
  start: () => Promise<void>;
  cancel: () => Promise<void>;
}

/** A pull on the gateway: started here (or found running), followed every POLL_MS while it runs. */
function useGatewayPull(
  pulls: GatewayPulls | undefined,
  id: string,
  known: PullView | undefined,
  onDone: () => void,
): GatewayPull {
  const [own, setOwn] = useState<PullView | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [rate, setRate] = useState(0);
  const meter = useRef(new RateMeter());
  const done = useRef(onDone);
  useEffect(() => {
    done.current = onDone;
  });
  // A pull already running when the page loaded (another tab, a reload) is shown too.
  const view = own ?? (known?.state === 'running' ? known : null);
  const running = view?.state === 'running';
  useEffect(() => {
    if (!running || pulls === undefined) return;
    let live = true;
    const timer = setInterval(() => {
      pulls.status(id).then(
        (next) => {
          if (!live) return;
          meter.current.add(performance.now(), next.bytesDone);
          setRate(next.state === 'running' ? meter.current.rate() : 0);
          setOwn(next);
          if (next.state === 'done') done.current();
        },
        (error: unknown) => {
          if (live) setFailure(message(error));
        },
      );
    }, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [running, pulls, id]);
  return {
    view,
    rate,
    failure,
    start: async () => {
      if (pulls === undefined) return;
      setFailure(null);
      meter.current.reset();
      try {
        setOwn(await pulls.start(id));
      } catch (error) {
        setFailure(message(error));
      }
    },
    cancel: async () => {
      if (pulls === undefined) return;
      try {
        setOwn(await pulls.cancel(id));
      } catch (error) {
        setFailure(message(error));
      }
    },
  };
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
  'not-downloaded': 'Not in this browser',
  downloading: 'Downloading',
  verifying: 'Verifying',
  ready: 'Ready (stored in this browser)',
  paused: 'Paused',
  error: 'Download failed',
};

const PHASE_TEXT: Record<NonNullable<PullView['phase']>, string> = {
  downloading: 'The gateway is fetching it from Hugging Face',
  building: 'The gateway is building its files',
  verifying: 'The gateway is checking its files',
};

function persistedText(persisted: boolean | null): string {
  if (persisted === null) return 'not asked yet';
  return persisted ? 'persisted (not evicted under storage pressure)' : 'best-effort (the browser may evict it)';
}

function sizeText(listing: VariantListing, total: number): string {
  if (total > 0) return formatBytes(total);
  if (listing.sizeEstimate !== null && listing.sizeEstimate > 0) return `about ${formatBytes(listing.sizeEstimate)}`;
  return 'size not known yet';
}

function percentOf(done: number, total: number | null): number {
  return total !== null && total > 0 ? Math.min(100, (done / total) * 100) : 0;
}

function Licenses({ listing }: { listing: VariantListing }) {
  if (listing.licenses.length === 0) return null;
  return (
    <p className="model-licenses" data-testid="licenses">
      Licence:{' '}
      {listing.licenses.map((license, i) => (
        <span key={`${license.name}-${String(i)}`}>
          {i > 0 && '; '}
          <a href={license.url} target="_blank" rel="noreferrer">
            {license.name}
          </a>{' '}
          <span className="model-license-covers">({license.covers})</span>
        </span>
      ))}
    </p>
  );
}

function Command({ text }: { text: string }) {
  return (
    <code className="model-command" data-testid="pull-command">
      {text}
    </code>
  );
}

/** What to do when the gateway does not have the variant; null when it has it (or this browser has). */
function GatewayCopy({
  listing,
  pullsInfo,
  pull,
  asking,
  onDownload,
}: {
  listing: VariantListing;
  pullsInfo: PullsInfo | null | undefined;
  pull: GatewayPull;
  asking: boolean;
  onDownload: () => void;
}) {
  const command = `turbodraft models pull ${listing.id}`;
  const view = pull.view;
  if (listing.gatewayCopy === 'offline') {
    return <p className="model-note">The gateway cannot be reached now: this model can be downloaded once it is back.</p>;
  }
  if (listing.gatewayCopy === 'damaged') {
    return (
      <div className="model-gateway" data-testid="gateway-copy" data-state="damaged">
        <p className="model-note">The gateway&apos;s copy of this model cannot be read. Its admin can repair it with:</p>
        <Command text={`turbodraft models rm ${listing.id} && ${command}`} />
      </div>
    );
  }
  if (view?.state === 'running') {
    const percent = percentOf(view.bytesDone, view.bytesTotal);
    return (
      <div className="model-gateway" data-testid="gateway-copy" data-state="pulling">
        <p className="model-note">{view.phase === null ? 'The gateway is fetching it' : PHASE_TEXT[view.phase]}, then this browser downloads it.</p>
        <div className="model-progress">
          <progress max={100} value={percent} aria-label={`${listing.id} fetch to the gateway`} />
          <span data-testid="gateway-percent">{percent.toFixed(1)} %</span>
          <span data-testid="gateway-bytes">
            {formatBytes(view.bytesDone)} of {view.bytesTotal === null ? sizeText(listing, 0) : formatBytes(view.bytesTotal)}
          </span>
          <span data-testid="gateway-rate">{formatRate(pull.rate)}</span>
          <span>ETA {formatEta(view.bytesTotal === null ? null : etaSeconds(view.bytesTotal - view.bytesDone, pull.rate))}</span>
        </div>
        <div className="model-actions">
          <button type="button" onClick={() => void pull.cancel()}>
            Stop fetching
          </button>
        </div>
      </div>
    );
  }
  if (pullsInfo === null || pullsInfo === undefined) {
    return <p className="model-note">The gateway does not have this model yet; asking it what can be done…</p>;
  }
  if (!pullsInfo.allowed) {
    return (
      <div className="model-gateway" data-testid="gateway-copy" data-state="admin">
        <p className="model-note">
          The gateway does not have this model yet, and it does not fetch models for web pages
          {pullsInfo.reason === null ? '' : ` (${pullsInfo.reason})`}. Its admin can fetch it with:
        </p>
        <Command text={command} />
      </div>
    );
  }
  const stopped = view?.state === 'cancelled' || view?.state === 'failed';
  return (
    <div className="model-gateway" data-testid="gateway-copy" data-state={stopped ? view.state : 'absent'}>
      <p className="model-note">
        Not on the gateway yet. Download fetches it from Hugging Face to the gateway ({sizeText(listing, 0)}), then
        stores it in this browser.
      </p>
      {view?.state === 'cancelled' && <p className="model-note">Fetching was stopped; what the gateway fetched is kept.</p>}
      {(view?.state === 'failed' || pull.failure !== null) && (
        <p className="model-error" role="alert">
          {view?.error ?? pull.failure}
        </p>
      )}
      {!asking && (
        <div className="model-actions">
          <button type="button" onClick={onDownload}>
            {stopped ? 'Resume' : 'Download'}
          </button>
        </div>
      )}
    </div>
  );
}

export function ModelDownloadProgress({
  store,
  listing,
  consentAboveBytes = DEFAULT_CONSENT_BYTES,
  pulls,
  pullsInfo,
  onGatewayChanged,
}: ModelDownloadProgressProps) {
  const state = useVariantState(store, listing.state);
  const [asking, setAsking] = useState(false);
  const [persisted, setPersisted] = useState(store.persistence.persisted);
  const total = state.bytesTotal || listing.size;
  const percent = percentOf(state.bytesDone, total);
  const busy = state.status === 'downloading' || state.status === 'verifying';
  const stored = state.status === 'ready' || state.status === 'paused' || busy;
  const viaGateway = !listing.available && !stored;

  const start = (): void => {
    setAsking(false);
    void store.download(listing.id).finally(() => {
      setPersisted(store.persistence.persisted);
    });
  };
  const pull = useGatewayPull(
    pulls,
    listing.id,
    pullsInfo?.pulls.find((p) => p.variant === listing.id),
    () => {
      // The gateway has it now: read the list again, then bring it into this browser (consent was given).
      void (onGatewayChanged?.() ?? Promise.resolve()).then(start);
    },
  );
  const confirm = (): void => {
    if (viaGateway) {
      setAsking(false);
      void pull.start();
    } else {
      start();
    }
  };
  const onDownload = (): void => {
    const size = total > 0 ? total : (listing.sizeEstimate ?? 0);
    if (size >= consentAboveBytes) setAsking(true);
    else confirm();
  };
  const consentBytes = viaGateway ? (listing.sizeEstimate ?? 0) : total - state.bytesDone;

  return (
    <section className="model-download" data-testid={`model-${listing.id}`} data-status={state.status}>
      <header>
        <strong className="model-name">{listing.id}</strong>
        <span className="model-size" data-testid="size">
          {sizeText(listing, total)}
        </span>
        <span className={`model-status status-${state.status}`}>{STATUS_TEXT[state.status]}</span>
      </header>
      {listing.description && <p className="model-description">{listing.description}</p>}
      <Licenses listing={listing} />
      {viaGateway && (
        <GatewayCopy listing={listing} pullsInfo={pullsInfo} pull={pull} asking={asking} onDownload={onDownload} />
      )}
      {(busy || state.status === 'paused' || (state.status === 'error' && state.bytesDone > 0)) && (
        <div className="model-progress">
          <progress max={100} value={percent} aria-label={`${listing.id} download progress`} />
          <span data-testid="percent">{percent.toFixed(1)} %</span>
          <span data-testid="bytes">
            {formatBytes(state.bytesDone)} of {formatBytes(total)}
          </span>
          {busy && <span data-testid="rate">{formatRate(state.rate)}</span>}
          {busy && <span data-testid="eta">ETA {formatEta(state.etaSeconds)}</span>}
        </div>
      )}
      {state.status === 'paused' && (
        <p className="model-note">Paused: the {formatBytes(state.bytesDone)} fetched so far are kept, and Resume goes on from there.</p>
      )}
      {state.updateAvailable && <p className="model-note">A newer revision is available; downloading fetches only the changed files.</p>}
      {state.error && !viaGateway && (
        <p className="model-error" role="alert">
          {state.error.message}
        </p>
      )}
      {asking && (
        <div className="model-consent" role="dialog" aria-label="Confirm download">
          <p>
            {viaGateway ? (
              <>
                The gateway fetches <strong>{sizeText(listing, 0)}</strong> of model files from Hugging Face, and this
                browser then stores them (Origin Private File System) until you remove them.
              </>
            ) : (
              <>
                This stores <strong>{formatBytes(consentBytes)}</strong> of model files in this browser (Origin Private
                File System). They stay until you remove them.
              </>
            )}
          </p>
          <button type="button" onClick={confirm}>
            Download {viaGateway ? sizeText(listing, 0) : formatBytes(consentBytes)}
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
        {!asking && !viaGateway && !busy && state.status !== 'ready' && state.status !== 'paused' && (
          <button type="button" onClick={onDownload}>
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
