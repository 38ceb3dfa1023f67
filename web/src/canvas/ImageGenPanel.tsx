/**
 * The inside of an ImageGen shape: prompt, the image, Quick Preview / High Quality / Refine to final, seed
 * lock and new seed, live drafts, the local model's download (with consent), and a status line that says
 * where the image was made, how long it took, what it cost, and which fallback was taken.
 *
 * Controls stop pointer events from reaching the canvas (so typing or clicking does not drag the shape);
 * the header stays a drag handle. Status changes are announced through an aria-live region.
 */
import { useEffect, useId, useState, type PointerEvent as ReactPointerEvent } from 'react';
import { useEditor, useValue, type Editor, type TLShapeId } from 'tldraw';
import { statusLine } from '../client/messages';
import type { VariantListing, VariantState } from '../engine/store/types';
import { ModelDownloadProgress } from '../ui/ModelDownloadProgress';
import { adoptLegacyImage, generateFor, liveDrafts, stopLiveDrafts, type GenerateKind } from './generate';
import { BoltIcon, DiceIcon, LockIcon, SparkleIcon } from './icons';
import { assetUrl } from './imageAssets';
import { IMAGE_GEN_TYPE, randomSeed, type ImageGenProps, type ImageGenShape, type LocalModelStatus } from './imageGenProps';
import { useCanvasServices, type CanvasServices } from './services';
import { activities } from './transient';

const stop = (event: ReactPointerEvent): void => {
  event.stopPropagation();
};

function update(editor: Editor, id: TLShapeId, props: Partial<ImageGenProps>): void {
  editor.updateShape<ImageGenShape>({ id, type: IMAGE_GEN_TYPE, props });
}

/** The image's object URL from the asset store, or the old app's URL for a migrated shape. */
function useImageUrl(editor: Editor, props: ImageGenProps): string | null {
  const [resolved, setResolved] = useState<{ id: string; url: string | null } | null>(null);
  const { assetId } = props;
  useEffect(() => {
    if (assetId === null) return;
    let live = true;
    assetUrl(editor, assetId).then(
      (url) => {
        if (live) setResolved({ id: assetId, url });
      },
      () => {
        if (live) setResolved({ id: assetId, url: null });
      },
    );
    return () => {
      live = false;
    };
  }, [editor, assetId]);
  if (assetId === null) return props.legacyImageUrl;
  return resolved?.id === assetId ? resolved.url : null;
}

interface DraftRoute {
  /** Why Quick Preview cannot run at all (the gateway refused every target); null when it can. */
  readonly refused: string | null;
  /** Where a draft would go and why, for the button's tooltip. */
  readonly where: string;
}

function useDraftRoute(services: CanvasServices, props: ImageGenProps, modelStatus: string | undefined): DraftRoute | null {
  const [route, setRoute] = useState<{ key: string; route: DraftRoute } | null>(null);
  const { generationMode: mode, size } = props;
  const key = `${mode}/${String(size)}/${modelStatus ?? ''}`;
  useEffect(() => {
    let live = true;
    services.session.orchestrator.plan({ priority: 'draft', mode, width: size, height: size }).then(
      (answer) => {
        if (!live) return;
        const { plan } = answer;
        const first = plan.steps[0];
        const refused = first === undefined ? plan.refusals.map((r) => r.reason).join('; ') || 'no target' : null;
        const browserSkip = plan.skipped.find((s) => s.target === 'browser');
        const where =
          first === undefined
            ? `Unavailable: ${refused ?? ''}`
            : first.target === 'browser'
              ? `Drafts in this browser (${first.backend}), free`
              : `Drafts on ${first.target === 'server' ? 'the server' : 'RunPod'}${browserSkip ? ` — not in this browser: ${browserSkip.reason}` : ''}`;
        setRoute({ key, route: { refused, where } });
      },
      (error: unknown) => {
        if (!live) return;
        const message = error instanceof Error ? error.message : String(error);
        setRoute({ key, route: { refused: null, where: `Routing unknown (${message})` } });
      },
    );
    return () => {
      live = false;
    };
  }, [services, mode, size, key]);
  return route?.key === key ? route.route : null;
}

function shapeModelStatus(state: VariantState | undefined): LocalModelStatus {
  switch (state?.status) {
    case 'ready':
      return 'ready';
    case 'downloading':
    case 'verifying':
      return 'loading';
    case 'error':
      return 'error';
    default:
      return 'not-loaded';
  }
}

/** The local model's listing and live state; mirrors the state into the shape's localModel* props. */
function useLocalModel(editor: Editor, services: CanvasServices, shape: ImageGenShape): VariantListing | null | undefined {
  const [listing, setListing] = useState<VariantListing | null | undefined>(undefined);
  const [state, setState] = useState<VariantState | undefined>(undefined);
  const { session, variant } = services;
  const { id } = shape;
  useEffect(() => {
    let live = true;
    session.models.list().then(
      (all) => {
        if (live) setListing(all.find((l) => l.id === variant) ?? null);
      },
      () => {
        if (live) setListing(null);
      },
    );
    const unsubscribe = session.models.subscribe((next) => {
      if (next.variant === variant) setState(next);
    });
    return () => {
      live = false;
      unsubscribe();
    };
  }, [session, variant]);
  const current = state ?? listing?.state;
  const status = shapeModelStatus(current);
  const percent =
    current === undefined || current.bytesTotal === 0 ? 0 : Math.floor((current.bytesDone / current.bytesTotal) * 100);
  const { localModelStatus, localModelProgress } = shape.props;
  useEffect(() => {
    if (current === undefined) return;
    const progress = status === 'ready' ? 100 : Math.min(100, Math.max(0, percent));
    if (localModelStatus === status && localModelProgress === progress) return;
    editor.run(
      () => {
        update(editor, id, { localModelStatus: status, localModelProgress: progress });
      },
      { history: 'ignore' },
    );
  }, [editor, id, current, status, percent, localModelStatus, localModelProgress]);
  return listing;
}

function StatusLine({ props }: { props: ImageGenProps }) {
  if (props.source === null) return <>No image yet</>;
  const total = props.timings.total ?? 0;
  const kind = props.kind === 'final' ? 'Final' : 'Draft';
  if (props.backend === null && props.legacyImageUrl !== null) return <>{kind} from the earlier canvas app</>;
  return (
    <>
      {kind}. {statusLine({ source: props.source, backend: props.backend ?? props.source, totalMs: total, costUsd: props.cost })}
    </>
  );
}

export function ImageGenPanel({ shape }: { shape: ImageGenShape }) {
  const editor = useEditor();
  const services = useCanvasServices();
  const { id, props } = shape;
  const promptId = useId();
  const imageUrl = useImageUrl(editor, props);
  const activity = useValue('activity', () => activities.get()[id], [id]);
  const listing = useLocalModel(editor, services, shape);
  const route = useDraftRoute(services, props, listing === undefined ? undefined : props.localModelStatus);
  const busy = activity !== undefined && activity.activity !== null;

  useEffect(() => () => {
    stopLiveDrafts(id);
  }, [id]);

  const legacy = props.legacyImageUrl;
  useEffect(() => {
    if (legacy !== null) void adoptLegacyImage(editor, id);
  }, [editor, id, legacy]);

  const run = (kind: GenerateKind): void => {
    if (busy) return;
    void generateFor(editor, services, id, kind);
  };

  const quickDisabled = route?.refused != null;
  const canRefine = props.kind === 'draft' && props.assetId !== null && !busy;
  const showModel = props.generationMode !== 'cloud' && listing != null && props.localModelStatus !== 'ready';

  const onPrompt = (value: string): void => {
    update(editor, id, { prompt: value });
    if (props.liveDrafts && value.trim() !== '') liveDrafts(editor, services, id).change(value);
  };

  return (
    <div className="imagegen" data-testid="image-gen" data-image-gen-id={id} data-busy={busy ? 'true' : 'false'}>
      <header className="imagegen-header">
        <span className="imagegen-title">Image</span>
        <label className="imagegen-mode" onPointerDown={stop}>
          <span className="visually-hidden">Where to generate</span>
          <select
            aria-label="Where to generate"
            value={props.generationMode}
            onChange={(e) => {
              update(editor, id, { generationMode: e.target.value as ImageGenProps['generationMode'] });
            }}
          >
            <option value="auto">Auto</option>
            <option value="local">Local only (free)</option>
            <option value="cloud">Cloud only</option>
          </select>
        </label>
      </header>

      <label htmlFor={promptId} className="visually-hidden">
        Prompt
      </label>
      <textarea
        id={promptId}
        className="imagegen-prompt"
        placeholder="Describe the image…"
        value={props.prompt}
        rows={2}
        onPointerDown={stop}
        onChange={(e) => {
          onPrompt(e.target.value);
        }}
        onKeyDown={(e) => {
          e.stopPropagation();
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) run('draft');
        }}
      />

      <div className="imagegen-frame" aria-busy={busy}>
        {imageUrl !== null ? (
          <img
            src={imageUrl}
            alt={props.prompt === '' ? 'Generated image' : `Generated image: ${props.prompt}`}
            data-testid="image"
            draggable={false}
          />
        ) : (
          <span className="imagegen-empty">{busy ? '' : 'Type a prompt, then Quick Preview'}</span>
        )}
        {busy && <div className="imagegen-busy">{activity.message}</div>}
      </div>

      <div className="imagegen-actions" onPointerDown={stop}>
        <button
          type="button"
          className="primary"
          aria-disabled={quickDisabled || busy}
          title={route === null ? 'Checking where drafts can run…' : route.where}
          onClick={() => {
            if (!quickDisabled) run('draft');
          }}
        >
          <BoltIcon /> Quick Preview
        </button>
        <button
          type="button"
          aria-disabled={busy}
          title="High quality final (SDXL on RunPod in Auto mode)"
          onClick={() => {
            run('final');
          }}
        >
          <SparkleIcon /> High Quality
        </button>
        <button
          type="button"
          aria-disabled={!canRefine}
          title={canRefine ? 'Send this draft to the cloud as img2img, same prompt and seed' : 'Make a draft first'}
          onClick={() => {
            if (canRefine) run('refine');
          }}
        >
          Refine to final
        </button>
      </div>

      <div className="imagegen-options" onPointerDown={stop}>
        <label title="Regenerate the draft as you type">
          <input
            type="checkbox"
            checked={props.liveDrafts}
            onChange={(e) => {
              update(editor, id, { liveDrafts: e.target.checked });
              if (!e.target.checked) stopLiveDrafts(id);
            }}
          />
          Live
        </label>
        <span className="imagegen-seed">
          Seed <output data-testid="seed">{props.seed}</output>
        </span>
        <button
          type="button"
          className="icon"
          aria-pressed={props.seedLocked}
          aria-label={props.seedLocked ? 'Seed locked: unlock' : 'Lock seed'}
          title={props.seedLocked ? 'Seed locked (click to unlock)' : 'Lock the seed'}
          onClick={() => {
            update(editor, id, { seedLocked: !props.seedLocked });
          }}
        >
          <LockIcon open={!props.seedLocked} />
        </button>
        <button
          type="button"
          className="icon"
          aria-label="New seed"
          title="New random seed"
          onClick={() => {
            update(editor, id, { seed: randomSeed() });
          }}
        >
          <DiceIcon />
        </button>
        <label>
          <span className="visually-hidden">Image size</span>
          <select
            aria-label="Image size"
            value={props.size}
            onChange={(e) => {
              update(editor, id, { size: Number(e.target.value) });
            }}
          >
            {[...new Set([...services.sizes, props.size])]
              .sort((a, b) => a - b)
              .map((s) => (
                <option key={s} value={s}>
                  {s}²
                </option>
              ))}
          </select>
        </label>
      </div>

      {showModel && (
        <div className="imagegen-model" onPointerDown={stop}>
          <p>Download the local model once to draft here, free and offline:</p>
          <ModelDownloadProgress store={services.session.models} listing={listing} />
        </div>
      )}

      <p className="imagegen-status" role="status" aria-live="polite" data-testid="status">
        {busy ? activity.message : <StatusLine props={props} />}
      </p>
      {props.fallback !== null && !busy && (
        <p className="imagegen-fallback" data-testid="fallback">
          {props.fallback}
        </p>
      )}
      {props.error !== null && !busy && (
        <p className="imagegen-error" role="alert" data-testid="error">
          {props.error}
        </p>
      )}
    </div>
  );
}
