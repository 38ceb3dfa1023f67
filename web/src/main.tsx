import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { once } from './automation';
import { engineAutomation } from './engine/automation';
import { detectCapabilities } from './engine/capabilities';
import { ModelStore, modelsAutomation } from './engine/store';
import './styles.css';

// Detection creates (and destroys) a GPU device, so it runs once per page and every caller shares it.
const capabilities = once(() => detectCapabilities());

// The engine's worker starts on the first generate, not at page load.
// One store per page: its worker starts on first use.
const models = modelsAutomation(new ModelStore());
window.turbodraft = { capabilities, ...engineAutomation(), models };

const root = document.getElementById('root');
if (!root) {
  throw new Error('index.html has no #root element');
}
createRoot(root).render(
  <StrictMode>
    <App capabilities={capabilities()} models={models.store} />
  </StrictMode>,
);
