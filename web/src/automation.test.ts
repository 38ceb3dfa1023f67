import { expect, it } from 'vitest';
import { once } from './automation';

it('once runs its work a single time and shares the promise', async () => {
  let runs = 0;
  const shared = once(() => Promise.resolve(++runs));

  const [first, second] = await Promise.all([shared(), shared()]);

  expect([first, second, runs]).toEqual([1, 1, 1]);
});
