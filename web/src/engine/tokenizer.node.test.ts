/// <reference types="node" />
/** The TS tokenizer against the ids Python's `tokenizers` and transformers' CLIPTokenizer agreed on. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MANIFEST } from './manifest';
import { PromptTokenizer, frameIds } from './tokenizer';

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures');
const constants = MANIFEST.families['sd-turbo']?.tokenizer;
if (constants === undefined) throw new Error('manifest lacks the sd-turbo family');

interface TokenizerCase {
  prompt: string;
  ids: number[];
  truncated: boolean;
}

const CASES = (
  JSON.parse(readFileSync(path.join(FIXTURES, 'tokenizer/cases.json'), 'utf8')) as { cases: TokenizerCase[] }
).cases;
const tokenizer = new PromptTokenizer(
  JSON.parse(readFileSync(path.join(FIXTURES, 'tiny-sd-turbo/tokenizer.json'), 'utf8')) as object,
  constants,
);

describe('PromptTokenizer', () => {
  it.each(CASES.map((c) => [JSON.stringify(c.prompt).slice(0, 60), c] as const))(
    'gives the reference ids for %s',
    (_name, c) => {
      const encoded = tokenizer.encode(c.prompt);
      expect(Array.from(encoded.inputIds)).toEqual(c.ids);
      expect(encoded.truncated).toBe(c.truncated);
    },
  );

  it('frames ids as BOS + at most 75 tokens + EOS, padded with id 0 to 77', () => {
    const { ids, truncated } = frameIds(Array.from({ length: 80 }, (_, i) => i + 1), constants);
    expect(ids).toHaveLength(77);
    expect([ids[0], ids[75], ids[76], truncated]).toEqual([49406, 75, 49407, true]);
    expect(frameIds([5], constants).ids.slice(0, 4)).toEqual([49406, 5, 49407, 0]);
  });
});
