/** The toolbar tool that draws a new ImageGen shape (click for the default size, or drag a box). */
import { BaseBoxShapeTool } from 'tldraw';
import { IMAGE_GEN_TYPE } from './imageGenProps';

export class ImageGenTool extends BaseBoxShapeTool {
  static override id = IMAGE_GEN_TYPE;
  static override initial = 'idle';
  override shapeType: typeof IMAGE_GEN_TYPE = IMAGE_GEN_TYPE;
}
