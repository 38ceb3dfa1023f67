/**
 * The ImageGen shape's validators and migrations, through tldraw's own schema machinery: an old document
 * of the canvas app (shape version 0: `w, h, prompt, imageUrl, isLoading, error, endpointId`) migrates.
 */
import { describe, expect, it } from 'vitest';
import { T, createTLSchema, defaultBindingSchemas, defaultShapeSchemas, type SerializedSchema, type TLRecord } from 'tldraw';
import { IMAGE_GEN_TYPE, defaultImageGenProps, imageGenMigrations, imageGenProps, type ImageGenProps } from './imageGenProps';

const schema = createTLSchema({
  shapes: { ...defaultShapeSchemas, [IMAGE_GEN_TYPE]: { props: imageGenProps, migrations: imageGenMigrations } },
  bindings: defaultBindingSchemas,
});

/** The schema of a document saved by the old app: every sequence current except ImageGen at version 0. */
function oldSchema(): SerializedSchema {
  const current = schema.serialize();
  return { ...current, sequences: { ...current.sequences, [`com.tldraw.shape.${IMAGE_GEN_TYPE}`]: 0 } };
}

function oldShape(props: Record<string, unknown>): TLRecord {
  return {
    id: 'shape:old',
    typeName: 'shape',
    type: IMAGE_GEN_TYPE,
    x: 10,
    y: 20,
    rotation: 0,
    index: 'a1',
    parentId: 'page:page',
    isLocked: false,
    opacity: 1,
    meta: {},
    props,
  } as unknown as TLRecord;
}

function migrate(props: Record<string, unknown>): ImageGenProps {
  const result = schema.migratePersistedRecord(oldShape(props), oldSchema());
  if (result.type !== 'success') throw new Error(`migration failed: ${JSON.stringify(result)}`);
  const record = result.value as unknown as { props: ImageGenProps };
  // What the migration produced must pass the current validators.
  return T.object(imageGenProps).validate(record.props);
}

describe('ImageGen props', () => {
  it('migrate an old canvas-app shape with an image into a final from RunPod, keeping prompt and size', () => {
    const props = migrate({
      w: 300,
      h: 320,
      prompt: 'a lighthouse at dusk',
      imageUrl: 'https://example.com/fox.png',
      isLoading: false,
      error: null,
      endpointId: 'abc123',
    });
    expect(props).toMatchObject({
      w: 300,
      h: 320,
      prompt: 'a lighthouse at dusk',
      assetId: null,
      legacyImageUrl: 'https://example.com/fox.png',
      kind: 'final',
      source: 'runpod',
      generationMode: 'cloud',
      error: null,
    });
    expect(props).not.toHaveProperty('imageUrl');
    expect(props).not.toHaveProperty('endpointId');
    expect(props).not.toHaveProperty('isLoading');
  });

  it('turn a shape saved mid-generation into one that says it was interrupted', () => {
    const props = migrate({ w: 300, h: 320, prompt: 'x', imageUrl: '', isLoading: true, error: null });
    expect(props.error).toBe('the generation was interrupted; generate again');
    expect(props.source).toBeNull();
    expect(props.legacyImageUrl).toBeNull();
  });

  it('give the same old document the same seed every time', () => {
    const old = { w: 300, h: 320, prompt: 'same words', imageUrl: null, isLoading: false, error: null };
    expect(migrate(old).seed).toBe(migrate(old).seed);
  });

  it('migrate down to the old shape', () => {
    const current = { ...defaultImageGenProps(5), prompt: 'down', legacyImageUrl: 'https://example.com/a.png' };
    const record = oldShape(current);
    const result = schema.migratePersistedRecord(record, oldSchema(), 'down');
    expect(result.type).toBe('success');
    if (result.type === 'success') {
      expect((result.value as unknown as { props: unknown }).props).toEqual({
        w: current.w,
        h: current.h,
        prompt: 'down',
        imageUrl: 'https://example.com/a.png',
        isLoading: false,
        error: null,
      });
    }
  });

  it('reject props out of range', () => {
    expect(() => imageGenProps.localModelProgress.validate(101)).toThrow(/localModelProgress/);
    expect(() => imageGenProps.seed.validate(2 ** 32)).toThrow(/seed/);
    expect(() => imageGenProps.generationMode.validate('gpu')).toThrow();
    expect(() => imageGenProps.size.validate(100)).toThrow(/size/);
  });
});
