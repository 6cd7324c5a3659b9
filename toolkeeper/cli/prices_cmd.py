"""``toolkeeper prices MODEL``: which catalog entry prices a model id, why, and what it costs."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape

from toolkeeper._units import format_money, money_json
from toolkeeper.cli._context import CliState
from toolkeeper.cli._output import console, print_json
from toolkeeper.costs._genai import package_version
from toolkeeper.costs.usage import Usage

__all__ = ["prices"]


def prices(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="A model id as calls report it: gpt-4o, openai/gpt-4o…"),
    input_tokens: int = typer.Option(1_000_000, "--input", min=0, help="Input tokens to price."),
    output_tokens: int = typer.Option(1_000_000, "--output", min=0, help="Output tokens to price."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show which price prices MODEL (an override or a catalog entry), why, and a sample cost.

    Reads the configuration's [prices] overrides and the genai-prices catalog; no store.

    Provider prefixes (openai:gpt-4o, openai/gpt-4o), colons in names (llama3.1:70b, Bedrock's
    -v1:0) and OpenAI fine-tunes (ft:BASE:org::id) are read as docs/money.md says.
    """
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    catalog = state.file().costs.catalog(package=package_version() is not None)
    now = datetime.now(UTC)
    usage = Usage(model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    why = catalog.explain(model, at=now)
    priced = catalog.price(model, usage, at=now)
    if as_json:
        print_json({
            "model": model, "priced": priced.cost is not None, "why": why,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cost": None if priced.cost is None else money_json(priced.cost),
        })  # fmt: skip
        return
    console.print(f"[bold]{escape(model)}[/]: {escape(why)}")
    if priced.cost is None:
        console.print("[yellow]unpriced[/]: calls of this model are recorded with cost unknown")
    else:
        console.print(
            f"{input_tokens:,} input + {output_tokens:,} output tokens cost "
            f"{format_money(priced.cost)}"
        )
