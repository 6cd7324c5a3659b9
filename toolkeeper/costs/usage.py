"""What one call consumed, and how to read it from an OpenAI-compatible response.

Token counts follow OpenAI's convention: ``input_tokens`` is every input token,
of which ``cached_tokens`` were read from the provider's cache and
``cache_write_tokens`` were written to it; ``output_tokens`` is every output
token, of which ``reasoning_tokens`` were reasoning. Prices apply to the parts
(see :mod:`toolkeeper.costs.prices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

__all__ = ["TokenCounts", "Usage", "field_of", "usage_from_response"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """The metered quantities of one call (or of several calls added together)."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 1
    characters: int = 0
    seconds: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in _COUNTS:
            value = getattr(self, name)
            if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"usage {name} must be an integer >= 0, got {value!r}")
            if value < 0:
                raise ValueError(f"usage {name} must be an integer >= 0, got {value!r}")
        value = self.seconds
        if not isinstance(value, Decimal):
            object.__setattr__(self, "seconds", Decimal(repr(value)))
        if not self.seconds.is_finite() or self.seconds < 0:
            raise ValueError(f"usage seconds must be a finite number >= 0, got {value!r}")
        if self.cached_tokens + self.cache_write_tokens > self.input_tokens:
            raise ValueError(
                f"usage cached_tokens ({self.cached_tokens}) plus cache_write_tokens "
                f"({self.cache_write_tokens}) cannot exceed input_tokens ({self.input_tokens})"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError(
                f"usage reasoning_tokens ({self.reasoning_tokens}) cannot exceed "
                f"output_tokens ({self.output_tokens})"
            )

    @property
    def total_tokens(self) -> int:
        """Return input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        """Add two usages; the model is kept only when both name the same one."""
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            model=self.model if self.model == other.model else None,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            requests=self.requests + other.requests,
            characters=self.characters + other.characters,
            seconds=self.seconds + other.seconds,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCounts:
    """Tokens of every kind summed over many calls, as reports show them.

    The same convention as :class:`Usage` (cached and cache-write tokens are parts
    of the input, reasoning tokens of the output), without its checks: sums read
    back from the store are shown as they were recorded.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def of(cls, usage: Usage) -> TokenCounts:
        """Return the token counts of one usage."""
        return cls(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )  # fmt: skip

    def __add__(self, other: TokenCounts) -> TokenCounts:
        """Add two sums kind by kind."""
        if not isinstance(other, TokenCounts):
            return NotImplemented
        return TokenCounts(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        """Return the counts by field name (JSON-ready)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


#: The integer fields of a Usage, checked when one is made.
_COUNTS = tuple(f.name for f in fields(Usage) if f.name not in {"model", "seconds"})


def usage_from_response(response: Any) -> Usage | None:
    """Return the usage reported by an OpenAI-compatible response, or ``None`` if it has none.

    Reads dicts and objects alike (the ``openai`` client's pydantic models, or
    their ``model_dump()``): Chat Completions (``prompt_tokens``,
    ``completion_tokens``, ``prompt_tokens_details.cached_tokens``,
    ``completion_tokens_details.reasoning_tokens``), the Responses API
    (``input_tokens``, ``output_tokens`` and their ``*_details``) and Anthropic's
    Messages (whose ``input_tokens`` excludes ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``, added back here).
    """
    usage = _get(response, "usage")
    if usage is None:
        return None
    model = _get(response, "model")
    model = model if isinstance(model, str) and model else None
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    if _get(usage, "prompt_tokens") is not None:
        input_tokens = _count(usage, "prompt_tokens")
        output_tokens = _count(usage, "completion_tokens")
        cached = _count(_get(usage, "prompt_tokens_details"), "cached_tokens")
        reasoning = _count(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    elif _get(usage, "input_tokens") is not None:
        input_tokens = _count(usage, "input_tokens") + cache_read + cache_write
        output_tokens = _count(usage, "output_tokens")
        cached = _count(_get(usage, "input_tokens_details"), "cached_tokens") or cache_read
        reasoning = _count(_get(usage, "output_tokens_details"), "reasoning_tokens")
    else:
        return None
    return Usage(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=min(cached, input_tokens),
        cache_write_tokens=min(cache_write, input_tokens - min(cached, input_tokens)),
        reasoning_tokens=min(reasoning, output_tokens),
    )


#: Per class: whether its instances are pydantic models (read without raising, see field_of).
_PYDANTIC: dict[type, bool] = {}
#: Per (pydantic class, name): whether the class itself has an attribute of that name.
_ON_CLASS: dict[tuple[type, str], bool] = {}


def field_of(obj: Any, name: str) -> Any:  # noqa: PLR0911 - one return per way to read
    """Return ``obj[name]`` of a mapping, else ``obj.name``, else ``None``.

    A pydantic model (the SDKs' responses and chunks) is read from its fields and
    extras directly: asking one for a field it lacks (``type`` of a Chat
    Completions chunk) would otherwise run pydantic's ``__getattr__``, which
    raises and catches an exception each time, on every chunk of a stream.
    """
    if obj is None:
        return None
    kind = type(obj)
    if kind is dict:
        return obj.get(name)
    pydantic = _PYDANTIC.get(kind)
    if pydantic is None:
        pydantic = _PYDANTIC[kind] = all(
            hasattr(kind, name)
            for name in ("__pydantic_fields__", "__pydantic_extra__", "__pydantic_private__")
        )
    if pydantic:
        found = obj.__dict__.get(name, _MISSING)
        if found is not _MISSING:
            return found
        on_class = _ON_CLASS.get((kind, name))
        if on_class is None:  # asked of the class once: pydantic's metaclass raises to say no
            on_class = _ON_CLASS[kind, name] = hasattr(kind, name)
        if on_class:
            return getattr(obj, name, None)
        # Not a field, nor on the class: an extra, a private attribute, or nothing (where
        # pydantic's __getattr__ would raise).
        more = obj.__pydantic_private__ if name.startswith("_") else obj.__pydantic_extra__
        return more.get(name) if more else None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


_MISSING = object()
_get = field_of


def _count(obj: Any, name: str) -> int:
    value = _get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
