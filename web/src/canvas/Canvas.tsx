/**
 * The tldraw canvas: the ImageGen shape and its toolbar tool, the cost panel in the top-right slot, local
 * persistence (the document and its image assets in IndexedDB under `persistenceKey`), and tldraw's icons
 * and fonts bundled by Vite instead of fetched from its CDN (works offline and under COEP).
 *
 * tldraw needs a license key in production (development on localhost works without): VITE_TLDRAW_LICENSE_KEY.
 */
import { getAssetUrlsByImport } from '@tldraw/assets/imports.vite';
import { useCallback, useMemo } from 'react';
import {
  DefaultToolbar,
  DefaultToolbarContent,
  Tldraw,
  TldrawUiMenuItem,
  useIsToolSelected,
  useTools,
  type Editor,
  type TLComponents,
  type TLUiOverrides,
} from 'tldraw';
import 'tldraw/tldraw.css';
import { CostPanel } from './CostPanel';
import { ImageGenShapeUtil } from './ImageGenShapeUtil';
import { ImageGenTool } from './ImageGenTool';
import { ImageGenToolIcon } from './icons';
import { IMAGE_GEN_TYPE } from './imageGenProps';
import { CanvasServicesContext, useCanvasServices, type CanvasServices } from './services';
import './canvas.css';

const shapeUtils = [ImageGenShapeUtil];
const tools = [ImageGenTool];
const assetUrls = getAssetUrlsByImport();
const TOOL_LABEL = 'tool.image-gen';

const overrides: TLUiOverrides = {
  tools(editor, all) {
    return {
      ...all,
      [IMAGE_GEN_TYPE]: {
        id: IMAGE_GEN_TYPE,
        icon: <ImageGenToolIcon />,
        label: TOOL_LABEL,
        kbd: 'i',
        onSelect: () => {
          editor.setCurrentTool(IMAGE_GEN_TYPE);
        },
      },
    };
  },
  translations: { en: { [TOOL_LABEL]: 'Image generator' } },
};

function Toolbar() {
  const all = useTools();
  const tool = all[IMAGE_GEN_TYPE];
  const selected = useIsToolSelected(tool);
  return (
    <DefaultToolbar>
      {tool !== undefined && <TldrawUiMenuItem {...tool} isSelected={selected} />}
      <DefaultToolbarContent />
    </DefaultToolbar>
  );
}

function Costs() {
  const services = useCanvasServices();
  const subscribe = useCallback(
    (listener: () => void) => {
      services.generated.add(listener);
      return () => {
        services.generated.delete(listener);
      };
    },
    [services],
  );
  return <CostPanel gateway={services.session.gateway} subscribe={subscribe} />;
}

const components: TLComponents = { Toolbar, SharePanel: Costs };

export interface CanvasProps {
  readonly services: CanvasServices;
  /** Where the document is kept in IndexedDB; tests use a fresh key per page. */
  readonly persistenceKey: string;
  readonly onMount?: (editor: Editor) => void;
}

export function Canvas({ services, persistenceKey, onMount }: CanvasProps) {
  const licenseKey = useMemo(() => {
    const key: unknown = import.meta.env.VITE_TLDRAW_LICENSE_KEY;
    return typeof key === 'string' && key !== '' ? key : undefined;
  }, []);
  return (
    <CanvasServicesContext value={services}>
      <div className="canvas" data-testid="canvas">
        <Tldraw
          persistenceKey={persistenceKey}
          shapeUtils={shapeUtils}
          tools={tools}
          overrides={overrides}
          components={components}
          assetUrls={assetUrls}
          {...(licenseKey === undefined ? {} : { licenseKey })}
          {...(onMount === undefined ? {} : { onMount })}
        />
      </div>
    </CanvasServicesContext>
  );
}
