/** The client layer between the canvas and the engine/gateway. */
export type * from './api';
export { GatewayError, HttpGateway, type GatewayPort } from './gateway';
export { LiveDraftScheduler } from './liveDrafts';
export { formatSeconds, formatUsd, statusLine } from './messages';
export { Orchestrator, OrchestratorError, type GenerateInput, type GenerationOutcome } from './orchestrator';
export { ClientSession } from './session';
