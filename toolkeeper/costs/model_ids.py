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

The configuration's ``[prices]`` overrides are matched the same way
(:func:`override_key`): ``openai/gpt-4o`` and ``openai:gpt-4o`` are priced by an
override of ``gpt-4o``, and ``gpt-4o`` by an override written ``openai/gpt-4o``
when no other provider's override names that model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = [
    "Candidate",
    "OverrideIndex",
    "candidates",
    "index_overrides",
    "override_key",
    "unpriced_reason",
]

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


#: The override ids (the ``[prices]`` keys) by their reading: (provider or ``None``, model).
OverrideIndex = Mapping[tuple[str | None, str], tuple[str, ...]]


def index_overrides(keys: Collection[str], providers: Collection[str]) -> OverrideIndex:
    """Return each override id under its reading: ``openai/gpt-4o`` as ``("openai", "gpt-4o")``.

    An id whose prefix is no known provider (``llama3.1:70b``) is read as written,
    at any provider: ``(None, id)``.
    """
    index: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for key in sorted(keys):
        first = candidates(key, providers)[0]
        reading = (first.provider, first.model) if first.provider else (None, key)
        index[reading] = (*index.get(reading, ()), key)
    return index


def override_key(model: str, index: OverrideIndex, providers: Collection[str]) -> str | None:
    """Return the override id that prices ``model`` read as the catalog reads it, or ``None``.

    Each reading of ``model`` (:func:`candidates`, in order) takes an override of
    the same provider and model, else one of the model at any provider. An id
    without a provider takes an override written with one when exactly one
    provider's override names that model (two would be a guess).
    """
    for candidate in candidates(model, providers):
        if candidate.provider is not None:
            for reading in ((candidate.provider, candidate.model), (None, candidate.model)):
                found = index.get(reading)
                if found:
                    return found[0]
            continue
        found = index.get((None, candidate.model))
        if found:
            return found[0]
        prefixed = [
            keys for (provider, name), keys in index.items()
            if provider is not None and name == candidate.model
        ]  # fmt: skip
        if len(prefixed) == 1 and len(prefixed[0]) == 1:
            return prefixed[0][0]
    return None
