/**
 * Wires the page's single client session: gateway over HTTP, the browser engine, the model store, the
 * capability report, usage reporting, the orchestrator and the hidden-tab memory policy. The canvas gets
 * everything it needs from here and never touches the engine directly.
 */
import type { EngineClient } from '../engine/client';
import type { CapabilityReport } from '../engine/capabilities';
import type { ModelStore } from '../engine/store/client';
import type { VariantState } from '../engine/store/types';
import type { ModelVariantId, RouteCapabilities } from './api';
import { preferredVariant, routeCapabilities } from './capabilities';
import { HttpGateway, type GatewayPort } from './gateway';
import { DEFAULT_RELEASE_AFTER_MS, HiddenTabReleaser } from './hiddenTab';
import { BrowserEngine } from './localEngine';
import { Orchestrator } from './orchestrator';
import { UsageReporter } from './usage';

export interface SessionOptions {
  readonly engine: EngineClient;
  readonly models: ModelStore;
  readonly capabilities: () => Promise<CapabilityReport>;
  /** The local model to use; default: the best one for this browser. */
  readonly variant?: ModelVariantId;
  readonly releaseAfterMs?: number;
  readonly gateway?: GatewayPort;
}

function newId(): string {
  return `browser-${crypto.randomUUID()}`;
}

export class ClientSession {
  readonly gateway: GatewayPort;
  readonly local: BrowserEngine;
  readonly models: ModelStore;
  readonly usage: UsageReporter;
  readonly orchestrator: Orchestrator;
  readonly memory: HiddenTabReleaser;
  private readonly detect: () => Promise<CapabilityReport>;
  private readonly fixedVariant: ModelVariantId | undefined;

  constructor(options: SessionOptions) {
    this.gateway = options.gateway ?? new HttpGateway({ userId: userId() });
    this.local = new BrowserEngine(options.engine);
    this.models = options.models;
    this.detect = options.capabilities;
    this.fixedVariant = options.variant;
    this.usage = new UsageReporter(this.gateway);
    this.orchestrator = new Orchestrator({
      gateway: this.gateway,
      engine: this.local,
      capabilities: () => this.routeCapabilities(),
      usage: this.usage,
      newId,
    });
    this.memory = new HiddenTabReleaser({
      releaseAfterMs: options.releaseAfterMs ?? DEFAULT_RELEASE_AFTER_MS,
      release: () => this.local.release(),
      rebuild: () => this.local.warmUp(),
      onError: (error) => {
        console.warn('turbodraft: releasing or rebuilding local sessions failed', error);
      },
    });
  }

  async variant(): Promise<ModelVariantId> {
    return this.fixedVariant ?? preferredVariant(await this.detect());
  }

  /** The store's latest state of the local model (asks the store when nothing is known yet). */
  async modelState(): Promise<VariantState | undefined> {
    const variant = await this.variant();
    const known = this.models.snapshot()[variant];
    if (known !== undefined) return known;
    try {
      return await this.models.state(variant);
    } catch {
      return undefined; // no store (no OPFS) or an unknown variant: the model counts as not downloaded
    }
  }

  async routeCapabilities(): Promise<RouteCapabilities> {
    const [report, variant, state] = await Promise.all([this.detect(), this.variant(), this.modelState()]);
    return routeCapabilities(report, { variant, status: state?.status }, this.orchestrator.measuredDraftMs);
  }
}

const USER_KEY = 'turbodraft.user-id';

/** A stable per-browser user id for the ledger (X-User-Id), kept in localStorage. */
function userId(): string {
  try {
    const known = localStorage.getItem(USER_KEY);
    if (known !== null && /^[A-Za-z0-9._@:-]{1,128}$/.test(known)) return known;
    const fresh = `browser-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem(USER_KEY, fresh);
    return fresh;
  } catch {
    return 'anonymous';
  }
}
