/**
 * Today and this month: images made locally vs in the cloud, what the cloud cost, and the saving against
 * sending every image to RunPod (from GET /v1/costs). Refreshes after each generation and every minute.
 */
import { useCallback, useEffect, useState } from 'react';
import type { CostSummary, PeriodTotals } from '../client/api';
import type { GatewayPort } from '../client/gateway';
import { formatUsd } from '../client/messages';

const REFRESH_MS = 60_000;

function usd(value: number): string {
  return value === 0 ? '$0' : formatUsd(value);
}

function Period({ label, totals, testId }: { label: string; totals: PeriodTotals; testId: string }) {
  return (
    <tr data-testid={testId}>
      <th scope="row">{label}</th>
      <td data-testid={`${testId}-local`}>{totals.local_count}</td>
      <td data-testid={`${testId}-cloud`}>{totals.cloud_count}</td>
      <td data-testid={`${testId}-cost`}>{usd(totals.total_cost_usd)}</td>
      <td data-testid={`${testId}-avoided`}>{usd(totals.avoided_cost_usd)}</td>
    </tr>
  );
}

export function CostPanel({ gateway, subscribe }: { gateway: GatewayPort; subscribe: (listener: () => void) => () => void }) {
  const [summary, setSummary] = useState<CostSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState(true);

  const refresh = useCallback(() => {
    gateway.costs().then(
      (next) => {
        setSummary(next);
        setError(null);
      },
      (e: unknown) => {
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, [gateway]);

  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    const unsubscribe = subscribe(refresh);
    return () => {
      clearInterval(timer);
      unsubscribe();
    };
  }, [refresh, subscribe]);

  const savings = summary?.savings;
  return (
    <section className="cost-panel" data-testid="cost-panel" data-state={summary === null ? 'loading' : 'ready'} aria-label="Costs">
      <button
        type="button"
        className="cost-toggle"
        aria-expanded={open}
        onClick={() => {
          setOpen(!open);
        }}
      >
        Costs{savings !== undefined && ` · saved ${usd(savings.saved_usd)} this month`}
      </button>
      {open && (
        <div className="cost-body">
          {error !== null && <p className="cost-error" role="alert">Costs unavailable: {error}</p>}
          {summary === null && error === null && <p>Loading…</p>}
          {summary !== null && (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col" />
                    <th scope="col">Local</th>
                    <th scope="col">Cloud</th>
                    <th scope="col">Spent</th>
                    <th scope="col" title="What the local images would have cost on RunPod">Avoided</th>
                  </tr>
                </thead>
                <tbody>
                  <Period label="Today" totals={summary.today} testId="cost-today" />
                  <Period label="This month" totals={summary.this_month} testId="cost-month" />
                </tbody>
              </table>
              {savings !== undefined && (
                <p className="cost-saving" data-testid="cost-saving">
                  All-cloud would have cost {usd(savings.all_runpod_cost_usd)} this month: you saved{' '}
                  <strong>{usd(savings.saved_usd)}</strong> ({Math.round(savings.saved_fraction * 100)} %).
                </p>
              )}
            </>
          )}
        </div>
      )}
    </section>
  );
}
