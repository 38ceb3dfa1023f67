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
  const { src } = await editor.uploadAsset(asset, file);
  editor.createAssets([{ ...asset, props: { ...asset.props, src } }]);
  return id;
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
