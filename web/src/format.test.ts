import { describe, expect, it } from 'vitest';
import { formatBytes, formatMiB } from './format';

describe('formatBytes', () => {
  it('shows small sizes in bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
  });

  it('shows kibibytes below one mebibyte', () => {
    expect(formatBytes(32768)).toBe('32 KiB');
  });

  it('shows mebibytes with one decimal below ten gibibytes', () => {
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1,536 MiB');
  });

  it('shows gibibytes from ten gibibytes up', () => {
    expect(formatBytes(10 * 1024 ** 3)).toBe('10 GiB');
  });

  it('says unknown for negative or non-finite values', () => {
    expect(formatBytes(-1)).toBe('unknown');
    expect(formatBytes(Number.NaN)).toBe('unknown');
  });
});

describe('formatMiB', () => {
  it('shows any size in mebibytes', () => {
    expect(formatMiB(2 * 1024 ** 3 - 4)).toBe('2,048 MiB');
  });
});
