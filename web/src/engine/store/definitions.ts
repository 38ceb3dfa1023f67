/**
 * Which variants the engine may run besides those its bundle was built with: what the gateway serves now, or,
 * with the gateway gone, the definitions stored with each downloaded variant. This is what makes a variant
 * pulled (or defined) after the web app was built usable without rebuilding it, online and offline.
 */
import type { ManifestExtension } from '../manifest';
import { openLayout, readRecords } from './layout';
import { fetchServed } from './served';

export async function runtimeManifest(manifestUrl: string): Promise<ManifestExtension | null> {
  try {
    const served = await fetchServed(manifestUrl);
    return { variants: served.variants.map((v) => v.definition), families: served.families };
  } catch {
    // Offline (or a gateway without a manifest): the definitions downloads stored.
  }
  try {
    const records = await readRecords(await openLayout());
    const families: Record<string, unknown> = {};
    for (const record of records) Object.assign(families, record.families ?? {});
    return { variants: records.flatMap((r) => (r.definition === undefined ? [] : [r.definition])), families };
  } catch {
    return null;
  }
}
