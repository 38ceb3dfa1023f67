/**
 * Per-shape state that must not be saved in the document: what is running now and the live message.
 * (A document reloaded mid-generation must not show a spinner forever.)
 */
import { atom, type TLShapeId } from 'tldraw';

export type Activity = 'draft' | 'final' | 'refine' | null;

export interface ShapeActivity {
  readonly activity: Activity;
  /** What is happening now ("Planning…", "Drafting in this browser (wasm)…"), announced to screen readers. */
  readonly message: string;
}

const IDLE: ShapeActivity = { activity: null, message: '' };

export const activities = atom<Readonly<Record<string, ShapeActivity>>>('image-gen activities', {});

export function activityOf(id: TLShapeId): ShapeActivity {
  return activities.get()[id] ?? IDLE;
}

export function setActivity(id: TLShapeId, next: ShapeActivity): void {
  activities.update((all) => ({ ...all, [id]: next }));
}

export function clearActivity(id: TLShapeId): void {
  activities.update((all) => {
    const rest = { ...all };
    Reflect.deleteProperty(rest, id);
    return rest;
  });
}
