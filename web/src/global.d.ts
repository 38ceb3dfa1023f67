import type { TurbodraftAutomation } from './automation';
import type { CanvasWindowApi } from './canvas/automation';
import type { EngineAutomation } from './engine/automation';
import type { ModelsAutomation } from './engine/store';

declare global {
  interface Window {
    turbodraft: TurbodraftAutomation & EngineAutomation & { models: ModelsAutomation } & CanvasWindowApi;
  }
}
