/** The ImageGen custom shape: a resizable card with the generator UI (ImageGenPanel) inside. */
import { BaseBoxShapeUtil, HTMLContainer, type TLResizeInfo } from 'tldraw';
import { ImageGenPanel } from './ImageGenPanel';
import {
  IMAGE_GEN_TYPE,
  defaultImageGenProps,
  imageGenMigrations,
  imageGenProps,
  type ImageGenProps,
  type ImageGenShape,
} from './imageGenProps';

const MIN_W = 260;
const MIN_H = 360;

export class ImageGenShapeUtil extends BaseBoxShapeUtil<ImageGenShape> {
  static override type = IMAGE_GEN_TYPE;
  static override props = imageGenProps;
  static override migrations = imageGenMigrations;

  override getDefaultProps(): ImageGenProps {
    return defaultImageGenProps();
  }

  override canEdit(): boolean {
    return false;
  }

  override canResize(): boolean {
    return true;
  }

  override isAspectRatioLocked(): boolean {
    return false;
  }

  override onResize(shape: ImageGenShape, info: TLResizeInfo<ImageGenShape>) {
    const next = super.onResize(shape, info) as ImageGenShape;
    return { ...next, props: { ...next.props, w: Math.max(MIN_W, next.props.w), h: Math.max(MIN_H, next.props.h) } };
  }

  override component(shape: ImageGenShape) {
    return (
      <HTMLContainer style={{ pointerEvents: 'all', width: shape.props.w, height: shape.props.h }}>
        <ImageGenPanel shape={shape} />
      </HTMLContainer>
    );
  }

  override getIndicatorPath(shape: ImageGenShape): Path2D {
    const path = new Path2D();
    path.roundRect(0, 0, shape.props.w, shape.props.h, 10);
    return path;
  }
}
