/**
 * Generated images as tldraw image assets: the PNG goes to the editor's asset store (IndexedDB under a
 * persistenceKey, see useLocalStore), and the document only holds the asset record with an `asset:` id
 * as its src, so a document with a hundred drafts stays small and images survive a reload.
 */
import { AssetRecordType, type Editor, type TLAssetId, type TLImageAsset } from 'tldraw';

export async function storeImage(editor: Editor, png: Blob, width: number, height: number): Promise<TLAssetId> {
  const id = AssetRecordType.createId();
  const file = new File([png], `${id.replace(':', '-')}.png`, { type: 'image/png' });
  const asset: TLImageAsset = {
    id,
    typeName: 'asset',
    type: 'image',
    props: { name: file.name, src: null, w: width, h: height, mimeType: 'image/png', isAnimated: false, fileSize: png.size },
    meta: {},
  };
  // WebKit's private sessions (and WebKit under WebDriver) keep no Blobs in IndexedDB, and the asset store's
  // failed write would surface as an unhandled rejection: there the image goes inline in the document instead,
  // which is larger but shows, and lasts as long as the document does.
  const src = (await idbStoresBlobs()) ? (await editor.uploadAsset(asset, file)).src : await dataUrl(png);
  editor.createAssets([{ ...asset, props: { ...asset.props, src } }]);
  return id;
}

let blobProbe: Promise<boolean> | null = null;

/** Whether IndexedDB takes a Blob here: asked once per page, with a throwaway database. */
function idbStoresBlobs(): Promise<boolean> {
  blobProbe ??= new Promise<boolean>((resolve) => {
    const name = 'turbodraft-blob-probe';
    const done = (ok: boolean): void => {
      resolve(ok);
      indexedDB.deleteDatabase(name);
    };
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('probe');
    request.onerror = () => {
      done(false);
    };
    request.onsuccess = () => {
      const db = request.result;
      try {
        const tx = db.transaction('probe', 'readwrite');
        tx.objectStore('probe').put(new Blob(['probe']), 'probe');
        tx.oncomplete = () => {
          db.close();
          done(true);
        };
        tx.onabort = () => {
          db.close();
          done(false);
        };
      } catch {
        db.close();
        done(false);
      }
    };
  });
  return blobProbe;
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      resolve(reader.result as string); // readAsDataURL: always a string
    };
    reader.onerror = () => {
      reject(reader.error ?? new Error('the image could not be read'));
    };
    reader.readAsDataURL(blob);
  });
}

/** An object URL (or the stored URL) for showing the asset; null when it is gone. */
export function assetUrl(editor: Editor, assetId: TLAssetId): Promise<string | null> {
  return editor.resolveAssetUrl(assetId, { shouldResolveToOriginal: true });
}

/** The asset's bytes, e.g. to send a draft to the cloud for img2img. */
export async function assetBlob(editor: Editor, assetId: TLAssetId): Promise<Blob> {
  const url = await assetUrl(editor, assetId);
  if (url === null) throw new Error('the image is no longer stored in this browser');
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the stored image could not be read (HTTP ${String(response.status)})`);
  return response.blob();
}
