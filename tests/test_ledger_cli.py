"""`turbodraft costs`: the ledger's summary in the terminal, as a table or as JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from turbodraft.cli import costs as costs_command
from turbodraft.config import Settings
from turbodraft.ledger import Ledger, NewGeneration


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    for name in list(os.environ):
        if name.startswith("TURBODRAFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TURBODRAFT_DATA_DIR", str(tmp_path / "data"))
    with Ledger.from_settings(Settings()) as ledger:
        ledger.record(
            NewGeneration(user_id="ana", priority="draft", target="browser", width=512, height=512, steps=1)
        )
        ledger.record(
            NewGeneration(
                user_id="ana",
                priority="final",
                target="runpod",
                width=1024,
                height=1024,
                steps=25,
                execution_ms=6400,
            )
        )
    cli = typer.Typer()
    costs_command.register(cli)

    @cli.callback()
    def root() -> None:
        """Typer needs a callback to keep `costs` as a named subcommand."""

    return cli


def test_costs_prints_a_table(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["costs"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "this month" in result.output and "saved" in result.output


def test_costs_json_is_the_ledger_summary(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["costs", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["today"]["local_count"], data["today"]["cloud_count"]) == (1, 1)
    assert data["today"]["cloud_cost_usd"] == pytest.approx(7 * 0.00019)
    assert set(data) == {"generated_at", "today", "this_month", "days", "savings"}
