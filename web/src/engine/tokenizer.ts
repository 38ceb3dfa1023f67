/**
 * CLIP tokenization as SD-Turbo's pipeline does it (mirror of turbodraft/pipeline/tokenizer.py): BOS, at most
 * max_length-2 prompt tokens, EOS, then padding. Padding and truncation are done here, not by tokenizer.json's own
 * settings, because public tokenizer files disagree on the pad id (SD-2.x pads with `!`, id 0).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError } from './errors';
import type { TokenizerConstants } from './manifest';

export interface TokenizedPrompt {
  /** The text encoder's `input_ids`, [1, max_length]. */
  readonly inputIds: Int32Array;
  /** Prompt tokens before truncation (BOS/EOS not counted). */
  readonly promptTokens: number;
  /** True when prompt tokens were dropped to fit max_length. */
  readonly truncated: boolean;
}

export function frameIds(promptIds: readonly number[], c: TokenizerConstants): { ids: number[]; truncated: boolean } {
  const room = c.max_length - 2;
  const ids = [c.bos_token_id, ...promptIds.slice(0, room), c.eos_token_id];
  while (ids.length < c.max_length) ids.push(c.pad_token_id);
  return { ids, truncated: promptIds.length > room };
}

export class PromptTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly constants: TokenizerConstants;

  constructor(tokenizerJson: object, constants: TokenizerConstants) {
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, {});
    } catch (error) {
      throw EngineError.wrap(error, 'model-load-failed', 'cannot read tokenizer.json');
    }
    this.constants = constants;
  }

  encode(prompt: string): TokenizedPrompt {
    if (typeof prompt !== 'string') {
      throw new EngineError('invalid-prompt', `prompt must be a string, got ${typeof prompt}`);
    }
    const promptIds = this.tokenizer.encode(prompt, { add_special_tokens: false }).ids;
    const { ids, truncated } = frameIds(promptIds, this.constants);
    return { inputIds: Int32Array.from(ids), promptTokens: promptIds.length, truncated };
  }
}
