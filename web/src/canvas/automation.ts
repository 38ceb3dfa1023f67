/**
 * `window.turbodraft.canvas` and `window.turbodraft.testHooks`: the editor and the canvas's counters for
 * browser tests and scripts. `testHooks.failNextLocal = 'device-lost'` makes the next local generation fail.
 */
import type { Editor, TLShapeId } from 'tldraw';
import type { LocalTestHooks } from '../client/localEngine';
import { generationCounts } from './generate';
import type { CanvasServices } from './services';

export interface CanvasAutomation {
  /** The tldraw editor once the canvas is mounted. */
  editor: () => Editor | null;
  /** Resolves with the editor once the canvas is mounted. */
  ready: () => Promise<Editor>;
  /** Generations started for a shape (live drafts included). */
  generationsStarted: (shapeId: string) => number;
  /** Released/rebuilt counts of the hidden-tab memory policy, and whether sessions are released now. */
  memory: () => Promise<{ releases: number; rebuilds: number; released: boolean }>;
  /** Sends queued usage reports now; resolves with how many still wait. */
  flushUsage: () => Promise<number>;
}

export interface CanvasWindowApi {
  canvas: CanvasAutomation;
  testHooks: LocalTestHooks;
}

export function canvasAutomation(services: Promise<CanvasServices>): {
  automation: CanvasWindowApi;
  mounted: (editor: Editor) => void;
} {
  let editor: Editor | null = null;
  let resolveReady: (editor: Editor) => void = () => undefined;
  const ready = new Promise<Editor>((resolve) => {
    resolveReady = resolve;
  });
  // The hooks object is the engine adapter's own, shared once the session exists; until then, a stand-in
  // whose setting is copied over.
  const hooks: LocalTestHooks = { failNextLocal: null };
  void services.then((s) => {
    const real = s.session.local.hooks;
    Object.defineProperty(hooks, 'failNextLocal', {
      get: () => real.failNextLocal,
      set: (value: LocalTestHooks['failNextLocal']) => {
        real.failNextLocal = value;
      },
      enumerable: true,
    });
  });
  return {
    automation: {
      canvas: {
        editor: () => editor,
        ready: () => ready,
        generationsStarted: (shapeId) => generationCounts.get(shapeId as TLShapeId) ?? 0,
        memory: async () => {
          const { session } = await services;
          await session.memory.settled();
          return { ...session.memory.counts, released: session.memory.released };
        },
        flushUsage: async () => {
          const { session } = await services;
          await session.usage.flush();
          return session.usage.queued;
        },
      },
      testHooks: hooks,
    },
    mounted: (mountedEditor) => {
      editor = mountedEditor;
      resolveReady(mountedEditor);
    },
  };
}
