import { Suspense, use, useState } from 'react';
import { Canvas } from './canvas/Canvas';
import type { CanvasServices } from './canvas/services';
import type { Editor } from 'tldraw';
import type { CapabilityReport } from './engine/capabilities';
import type { ModelStore } from './engine/store/client';
import { ModelDownloads } from './ui/ModelDownloads';
import { formatBytes, formatMiB } from './format';

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

function adapterName(report: CapabilityReport): string {
  const adapter = report.adapter;
  if (!adapter) {
    return 'none';
  }
  const parts = [adapter.vendor, adapter.architecture].filter((part) => part !== '');
  const name = parts.length > 0 ? parts.join(' / ') : 'unnamed adapter';
  return adapter.description ? `${name} (${adapter.description})` : name;
}

function storageText(report: CapabilityReport): string {
  const { quota, usage } = report.storage;
  if (quota === null || usage === null) {
    return 'unknown';
  }
  return `${formatBytes(usage)} of ${formatBytes(quota)}`;
}

function persistedText(report: CapabilityReport): string {
  const { persisted } = report.storage;
  return persisted === null ? 'unknown' : yesNo(persisted);
}

function CapabilityReportView({ report }: { report: Promise<CapabilityReport> }) {
  const caps = use(report);
  return (
    <section className="report" data-testid="capability-report" data-state="ready">
      {caps.isSoftwareAdapter && (
        <p className="warning" role="alert">
          Software adapter: WebGPU runs on the CPU here, so local drafts on it will be very slow.
        </p>
      )}
      {caps.limitations.length > 0 && (
        <ul className="limitations" data-testid="limitations" aria-label="What this browser lacks">
          {caps.limitations.map((limitation) => (
            <li key={limitation.feature} data-feature={limitation.feature}>
              {limitation.message}
            </li>
          ))}
        </ul>
      )}
      <dl>
        <Row label="WebGPU">
          <span className={caps.hasWebGPU ? 'ok' : 'bad'}>{yesNo(caps.hasWebGPU)}</span>
          {caps.reason && <span className="reason">{caps.reason}</span>}
        </Row>
        <Row label="Adapter">{adapterName(caps)}</Row>
        <Row label="shader-f16">{yesNo(caps.shaderF16)}</Row>
        {caps.limits && (
          <>
            <Row label="Max buffer">{formatMiB(caps.limits.maxBufferSize)}</Row>
            <Row label="Max storage binding">{formatMiB(caps.limits.maxStorageBufferBindingSize)}</Row>
            <Row label="Workgroup storage">{formatBytes(caps.limits.maxComputeWorkgroupStorageSize)}</Row>
          </>
        )}
        <Row label="Cross-origin isolated">
          <span className={caps.crossOriginIsolated ? 'ok' : 'bad'}>{yesNo(caps.crossOriginIsolated)}</span>
        </Row>
        <Row label="Threads">{caps.hardwareConcurrency ?? 'unknown'}</Row>
        <Row label="Wasm threads">
          <span className={caps.wasmThreads ? 'ok' : 'bad'}>{yesNo(caps.wasmThreads)}</span>
        </Row>
        <Row label="Model storage (OPFS)">
          <span className={caps.opfs ? 'ok' : 'bad'}>{yesNo(caps.opfs)}</span>
        </Row>
        <Row label="Service worker">
          <span className={caps.serviceWorker ? 'ok' : 'bad'}>{yesNo(caps.serviceWorker)}</span>
        </Row>
        <Row label="Storage used">{storageText(caps)}</Row>
        <Row label="Storage persisted">{persistedText(caps)}</Row>
        {caps.storage.reason && <Row label="Storage note">{caps.storage.reason}</Row>}
      </dl>
      <p className="user-agent">{caps.userAgent}</p>
    </section>
  );
}

const PANEL_KEY = 'turbodraft.side-panel-open';

function initiallyOpen(): boolean {
  try {
    return localStorage.getItem(PANEL_KEY) !== 'false';
  } catch {
    return true;
  }
}

/** The capability report and the model downloads, in a panel that folds away from the canvas. */
function SidePanel({ capabilities, models }: { capabilities: Promise<CapabilityReport>; models: ModelStore }) {
  const [open, setOpen] = useState(initiallyOpen);
  const toggle = (): void => {
    setOpen(!open);
    try {
      localStorage.setItem(PANEL_KEY, String(!open));
    } catch {
      // Private mode without storage: the panel just forgets.
    }
  };
  return (
    <aside className="side-panel" data-open={open} aria-label="This browser and its models">
      <button type="button" aria-expanded={open} aria-controls="side-panel-body" onClick={toggle}>
        {open ? '▾' : '▸'} This browser &amp; models
      </button>
      <div id="side-panel-body" className="side-panel-body" hidden={!open}>
        <Suspense
          fallback={
            <section className="report" data-testid="capability-report" data-state="loading">
              Checking this browser…
            </section>
          }
        >
          <CapabilityReportView report={capabilities} />
        </Suspense>
        <ModelDownloads store={models} />
      </div>
    </aside>
  );
}

function CanvasWhenReady(props: { services: Promise<CanvasServices>; persistenceKey: string; onMount: (editor: Editor) => void }) {
  const services = use(props.services);
  return <Canvas services={services} persistenceKey={props.persistenceKey} onMount={props.onMount} />;
}

export interface AppProps {
  readonly capabilities: Promise<CapabilityReport>;
  readonly models: ModelStore;
  readonly services: Promise<CanvasServices>;
  readonly persistenceKey: string;
  readonly onMount: (editor: Editor) => void;
}

export function App({ capabilities, models, services, persistenceKey, onMount }: AppProps) {
  return (
    <>
      <Suspense fallback={<p className="canvas-loading">Starting the canvas…</p>}>
        <CanvasWhenReady services={services} persistenceKey={persistenceKey} onMount={onMount} />
      </Suspense>
      <SidePanel capabilities={capabilities} models={models} />
    </>
  );
}
