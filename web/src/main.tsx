import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { Editor } from 'tldraw';
import { App } from './App';
import { once } from './automation';
import { canvasAutomation } from './canvas/automation';
import { canvasServices, pageOptions } from './canvas/setup';
import { engineAutomation } from './engine/automation';
import { detectCapabilities } from './engine/capabilities';
import { ModelStore, modelsAutomation } from './engine/store';
import './styles.css';

// Detection creates (and destroys) a GPU device, so it runs once per page and every caller shares it.
const capabilities = once(() => detectCapabilities());

// The engine's worker starts on the first generate, not at page load.
// One store per page: its worker starts on first use.
const models = modelsAutomation(new ModelStore());
const engine = engineAutomation();
const options = pageOptions(new URLSearchParams(window.location.search));
const services = canvasServices({ engine: engine.engine, models: models.store, capabilities, options });
const canvas = canvasAutomation(services);
window.turbodraft = { capabilities, ...engine, models, ...canvas.automation };

const onMount = (editor: Editor): void => {
  canvas.mounted(editor);
};

const root = document.getElementById('root');
if (!root) {
  throw new Error('index.html has no #root element');
}
createRoot(root).render(
  <StrictMode>
    <App
      capabilities={capabilities()}
      models={models.store}
      services={services}
      persistenceKey={options.persistenceKey}
      onMount={onMount}
    />
  </StrictMode>,
);
