/**
 * What the ImageGen shape's buttons do: build the request from the shape's props, run it through the
 * client orchestrator, store the image as an asset and write the outcome (source, cost, timings, the
 * fallback taken) back to the shape. Live drafts go through one LiveDraftScheduler per shape.
 */
import type { Editor, TLAssetId, TLShapeId } from 'tldraw';
import { LiveDraftScheduler } from '../client/liveDrafts';
import { OrchestratorError, type GenerationOutcome, type ProgressEvent } from '../client/orchestrator';
import { targetName } from '../client/messages';
import { assetBlob, storeImage } from './imageAssets';
import { IMAGE_GEN_TYPE, randomSeed, type ImageGenShape } from './imageGenProps';
import type { CanvasServices } from './services';
import { clearActivity, setActivity, type Activity } from './transient';

export type GenerateKind = Exclude<Activity, null>;

/** Refine keeps most of the draft's composition: SDXL repaints, the layout stays. */
export const REFINE_STRENGTH = 0.6;

/** Generations started per shape (browser tests check the live-draft limit with it). */
export const generationCounts = new Map<TLShapeId, number>();

function imageGen(editor: Editor, id: TLShapeId): ImageGenShape | null {
  const shape = editor.getShape(id);
  return shape?.type === IMAGE_GEN_TYPE ? shape : null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function verb(kind: GenerateKind): string {
  return kind === 'draft' ? 'Drafting' : kind === 'refine' ? 'Refining' : 'Rendering';
}

function progressMessage(kind: GenerateKind, event: ProgressEvent, runpodMode: 'cloud' | 'local'): string | null {
  switch (event.kind) {
    case 'planned':
      return null;
    case 'trying': {
      const where =
        event.step.target === 'browser'
          ? `in this browser (${event.step.backend})`
          : event.step.target === 'server'
            ? 'on the server'
            : `on ${targetName('runpod', runpodMode)}`;
      const note = event.note === null ? '' : ` (${event.note})`;
      return `${verb(kind)} ${where}…${note}`;
    }
    case 'stage':
      return `${verb(kind)} in this browser: ${event.stage.replace('_', ' ')}…`;
  }
}

interface Prepared {
  readonly prompt: string;
  readonly seed: number;
  readonly initImage?: Blob;
}

async function prepare(
  editor: Editor,
  shape: ImageGenShape,
  kind: GenerateKind,
  live: boolean,
  promptOverride?: string,
): Promise<Prepared> {
  const prompt = (promptOverride ?? shape.props.prompt).trim();
  if (prompt === '') throw new OrchestratorError('failed', 'type a prompt first');
  if (kind === 'refine') {
    const assetId = shape.props.assetId;
    if (assetId === null || shape.props.kind !== 'draft') throw new OrchestratorError('failed', 'there is no draft to refine');
    return { prompt, seed: shape.props.seed, initImage: await assetBlob(editor, assetId) };
  }
  // Live drafts keep the seed, so the image changes with the words rather than with the noise.
  const seed = shape.props.seedLocked || live ? shape.props.seed : randomSeed();
  return { prompt, seed };
}

/** Runs one generation for the shape; the returned outcome is not yet applied (see `applyOutcome`). */
export async function produce(
  editor: Editor,
  services: CanvasServices,
  id: TLShapeId,
  kind: GenerateKind,
  live?: { readonly prompt: string },
): Promise<GenerationOutcome> {
  const shape = imageGen(editor, id);
  if (shape === null) throw new OrchestratorError('cancelled', 'the shape was deleted');
  const prepared = await prepare(editor, shape, kind, live !== undefined, live?.prompt);
  const size = shape.props.size;
  generationCounts.set(id, (generationCounts.get(id) ?? 0) + 1);
  setActivity(id, { activity: kind, message: `${verb(kind)}: planning…` });
  let runpodMode: 'cloud' | 'local' = 'cloud';
  try {
    const answer = services.session.orchestrator;
    return await answer.generate(
      {
        prompt: prepared.prompt,
        seed: prepared.seed,
        priority: kind === 'draft' ? 'draft' : 'final',
        mode: shape.props.generationMode,
        width: size,
        height: size,
        ...(kind === 'draft' ? { steps: shape.props.steps } : {}),
        ...(prepared.initImage === undefined ? {} : { initImage: prepared.initImage, strength: REFINE_STRENGTH }),
      },
      {
        onProgress: (event) => {
          if (event.kind === 'planned') return;
          if (event.kind === 'trying' && event.step.target === 'runpod' && !event.step.billed) runpodMode = 'local';
          const message = progressMessage(kind, event, runpodMode);
          if (message !== null) setActivity(id, { activity: kind, message });
        },
      },
    );
  } finally {
    clearActivity(id);
  }
}

/** Stores the image and writes the outcome to the shape (not undoable: the previous image's asset is removed). */
export async function applyOutcome(
  editor: Editor,
  id: TLShapeId,
  kind: GenerateKind,
  outcome: GenerationOutcome,
): Promise<void> {
  const assetId = await storeImage(editor, outcome.image, outcome.width, outcome.height);
  const shape = imageGen(editor, id);
  if (shape === null) {
    editor.deleteAssets([assetId]);
    return;
  }
  const previous: TLAssetId | null = shape.props.assetId;
  editor.run(
    () => {
      editor.updateShape<ImageGenShape>({
        id,
        type: IMAGE_GEN_TYPE,
        props: {
          assetId,
          legacyImageUrl: null,
          kind: kind === 'draft' ? 'draft' : 'final',
          source: outcome.source,
          backend: outcome.backend,
          seed: outcome.seed,
          cost: outcome.costUsd,
          timings: { ...outcome.timings, total: outcome.totalMs },
          fallback: outcome.fallback,
          error: null,
        },
      });
      if (previous !== null && previous !== assetId) editor.deleteAssets([previous]);
    },
    { history: 'ignore' },
  );
}

export function recordError(editor: Editor, id: TLShapeId, error: unknown): void {
  if (error instanceof OrchestratorError && error.kind === 'cancelled') return;
  if (imageGen(editor, id) === null) return;
  const attempts =
    error instanceof OrchestratorError && error.attempts.length > 0
      ? ` (tried ${error.attempts.map((a) => a.target).join(', ')})`
      : '';
  editor.run(
    () => {
      editor.updateShape<ImageGenShape>({ id, type: IMAGE_GEN_TYPE, props: { error: `${describe(error)}${attempts}` } });
    },
    { history: 'ignore' },
  );
}

/** A button's generation: errors end up on the shape, costs refresh afterwards. */
export async function generateFor(
  editor: Editor,
  services: CanvasServices,
  id: TLShapeId,
  kind: GenerateKind,
): Promise<void> {
  try {
    const outcome = await produce(editor, services, id, kind);
    await applyOutcome(editor, id, kind, outcome);
  } catch (error) {
    recordError(editor, id, error);
  } finally {
    for (const listener of services.generated) listener();
  }
}

const schedulers = new Map<TLShapeId, LiveDraftScheduler<GenerationOutcome>>();

/** The shape's live-draft scheduler (one per shape, created on first use). */
export function liveDrafts(editor: Editor, services: CanvasServices, id: TLShapeId): LiveDraftScheduler<GenerationOutcome> {
  let scheduler = schedulers.get(id);
  if (scheduler === undefined) {
    scheduler = new LiveDraftScheduler<GenerationOutcome>({
      run: (prompt) => produce(editor, services, id, 'draft', { prompt }),
      onResult: (_prompt, outcome) => {
        void applyOutcome(editor, id, 'draft', outcome).finally(() => {
          for (const listener of services.generated) listener();
        });
      },
      onError: (_prompt, error) => {
        recordError(editor, id, error);
      },
    });
    schedulers.set(id, scheduler);
  }
  return scheduler;
}

export function stopLiveDrafts(id: TLShapeId): void {
  schedulers.get(id)?.stop();
  schedulers.delete(id);
}

/**
 * A shape migrated from the old app holds its image as a URL; this stores it as an asset once (so the image
 * stays available offline and the document holds no URL). When the URL cannot be read (offline, CORS), the
 * shape keeps showing it by URL and tries again the next time it is shown.
 */
export async function adoptLegacyImage(editor: Editor, id: TLShapeId): Promise<void> {
  const shape = imageGen(editor, id);
  const url = shape?.props.legacyImageUrl ?? null;
  if (shape === null || url === null || shape.props.assetId !== null) return;
  let png: Blob;
  let size: { width: number; height: number };
  try {
    const response = await fetch(url);
    if (!response.ok) return;
    png = await response.blob();
    const bitmap = await createImageBitmap(png);
    size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
  } catch {
    return;
  }
  const assetId = await storeImage(editor, png, size.width, size.height);
  editor.run(
    () => {
      editor.updateShape<ImageGenShape>({ id, type: IMAGE_GEN_TYPE, props: { assetId, legacyImageUrl: null } });
    },
    { history: 'ignore' },
  );
}
