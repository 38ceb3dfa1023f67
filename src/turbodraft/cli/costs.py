"""`turbodraft costs`: what images cost today and this month, and what running them locally saved."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from turbodraft.cli.problems import database_problem, fail, load_settings
from turbodraft.ledger import CostSummary, Ledger, PeriodTotals

#: Days shown in the terminal's per-day table (the JSON has the full series).
RECENT_DAYS = 7


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def _period_row(table: Table, label: str, p: PeriodTotals) -> None:
    table.add_row(
        label,
        str(p.local_count),
        str(p.cloud_count),
        _usd(p.cloud_cost_usd),
        _usd(p.avoided_cost_usd),
    )


def render(summary: CostSummary, console: Console) -> None:
    totals = Table(
        "period", "local images", "cloud images", "cloud cost", "cloud cost avoided", title="Costs"
    )
    _period_row(totals, "today", summary.today)
    _period_row(totals, "this month", summary.this_month)
    console.print(totals)

    recent = Table("day (UTC)", "local images", "cloud images", "cloud cost", "cloud cost avoided")
    for day in summary.days[-RECENT_DAYS:]:
        _period_row(recent, day.day.isoformat(), day)
    console.print(recent)

    s = summary.savings
    console.print(
        f"This month: spent {_usd(s.actual_cost_usd)}; everything on RunPod would have cost "
        f"{_usd(s.all_runpod_cost_usd)}; saved [green]{_usd(s.saved_usd)}[/green] ({s.saved_fraction:.0%})."
    )


def costs(
    json_output: bool = typer.Option(False, "--json", metavar="", help="Machine-readable output."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="The data directory whose ledger to read (default ./.turbodraft)."
    ),
    user: str | None = typer.Option(None, "--user", help="One user's figures (default: the whole gateway's)."),
) -> None:
    """Print the cost summary from the ledger: today, this month, recent days and savings."""
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    settings = load_settings({"data_dir": "--data-dir"}, **overrides)
    try:
        with Ledger.from_settings(settings) as ledger:
            summary = ledger.summary(user_id=user)
    except Exception as exc:  # an unusable database is one line, not a traceback
        fail(database_problem(exc, settings.ledger_url))
    if json_output:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        render(summary, Console())


def register(app: typer.Typer) -> None:
    app.command()(costs)
