/** The browser model store: resumable, verified downloads of model variants into OPFS. */
export { ModelStore } from './client';
export { modelsAutomation, type ModelsAutomation } from './automation';
export { storeReaders, verifiedMirrorReaders } from './reader';
export * from './types';
