const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Bytes as a short human figure in binary units: "512 KiB", "1,024 MiB", "9.5 GiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return 'unknown';
  }
  if (bytes >= 10 * GiB) {
    return `${(bytes / GiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} GiB`;
  }
  if (bytes >= MiB) {
    return `${(bytes / MiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;
  }
  if (bytes >= KiB) {
    return `${(bytes / KiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} KiB`;
  }
  return `${String(bytes)} B`;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / MiB).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;
}
