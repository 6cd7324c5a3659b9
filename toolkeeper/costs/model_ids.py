"""Read the model ids people and SDKs write, to find the catalog entry that prices them.

An id is tried as these candidates, in order, until one is priced:

- ``ft:BASE:org:name:id`` (an OpenAI fine-tune): the id itself at OpenAI, then
  ``ft:BASE``, the catalog's fine-tune price of its base model. Never the base
  model's own price: a fine-tune costs more. None found: unpriced, with why.
- ``provider:model`` and ``provider/model`` (LiteLLM's form), when ``provider``
  is a provider the catalog knows: ``model`` at that provider;
- the id as written, the catalog choosing the provider;
- a Bedrock id (``anthropic.claude-…-v1:0``): at ``aws``.

Colons inside a model's own name (``llama3.1:70b``, Bedrock's ``-v1:0``) are
never taken for a provider prefix unless what precedes them is a known provider.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["Candidate", "candidates", "unpriced_reason"]

_BEDROCK_VENDORS = ("anthropic.", "amazon.", "meta.", "cohere.", "mistral.", "ai21.", "deepseek.")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to read a model id: the provider (``None``: any) and model, and why so."""

    provider: str | None
    model: str
    why: str


def candidates(model: str, providers: Collection[str]) -> list[Candidate]:
    """Return the readings of ``model`` to try, in order (``providers``: the known provider ids)."""
    if model.startswith("ft:"):
        base = model.split(":")[1] if model.count(":") >= 1 else ""
        return [
            Candidate("openai", model, "an OpenAI fine-tune, as written"),
            Candidate(
                "openai", f"ft:{base}", f"an OpenAI fine-tune of {base}: its fine-tune price"
            ),
        ]
    found: list[Candidate] = []
    for separator, form in ((":", "provider:model"), ("/", "provider/model")):
        head, sep, rest = model.partition(separator)
        if sep and rest and head.lower() in providers:
            found.append(Candidate(head.lower(), rest, f"{form}: {rest} at {head.lower()}"))
    found.append(Candidate(None, model, "as written, at the provider whose models match"))
    if model.startswith(_BEDROCK_VENDORS) and "aws" in providers:
        found.append(Candidate("aws", model, "a Bedrock model id, at aws"))
    return found


def unpriced_reason(model: str, tried: list[Candidate]) -> str:
    """Say why no catalog entry prices ``model``, after trying ``tried``."""
    if model.startswith("ft:") and len(tried) > 1:
        base = tried[1].model
        base = base.removeprefix("ft:")
        return f"a fine-tune: no fine-tune price in the catalog matches its base {base}"
    shown = "; ".join(f"{c.model!r} at {c.provider or 'any provider'}" for c in tried)
    return f"no catalog entry matches (tried {shown})"
