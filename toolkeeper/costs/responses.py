"""Read what a provider billed from any response shape users get back.

:func:`read_response` takes the value a wrapped function returned and gives a
:class:`Reading`: the usage (every token kind, see :class:`~toolkeeper.costs.usage.Usage`)
and the cost the provider or gateway reported, ``0`` included. It reads, as dicts or
as the SDKs' objects alike:

- OpenAI Chat Completions and Responses (``usage.prompt_tokens`` /
  ``usage.input_tokens`` and their ``*_details``), LiteLLM's ``ModelResponse``
  and its dicts (``_hidden_params.response_cost``), gateways' ``usage.cost``;
- Anthropic Messages (``input_tokens`` excludes the cache reads and writes,
  added back so that ``input_tokens`` is every input token);
- ``httpx.Response`` holding such a JSON body, and the SDKs' raw responses
  (``with_raw_response``: their ``http_response``).

A value that is not a provider's response (a string, a list, a dict without
``usage``) reads as ``None``: there is nothing to meter. A response that names a
model or carries ``usage`` but whose counts cannot be read is *unmetered*
(``Reading.usage is None``): its cost is unknown, never $0.

Streams are read chunk by chunk with a :class:`StreamTally` (see
:mod:`toolkeeper.wrap.streams`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from toolkeeper.costs.usage import Usage, field_of, usage_from_response

__all__ = ["Reading", "StreamTally", "is_stream", "read_response", "reported_cost"]

_PLAIN = (str, bytes, bytearray, int, float, bool, list, tuple, set, frozenset)
_STREAM_MANAGER_SUFFIX = "StreamManager"
#: Per class: whether its instances are streams (bounded: classes, not values).
_STREAM_CLASSES: dict[type, bool] = {}
_KEEP_CLASSES = 4096


@dataclass(frozen=True, slots=True)
class Reading:
    """What one response says it consumed: its usage (``None``: unmetered) and reported cost."""

    usage: Usage | None
    cost: Decimal | None = None
    model: str | None = None

    @property
    def metered(self) -> bool:
        """Return whether the response's usage could be read."""
        return self.usage is not None


def read_response(value: Any) -> Reading | None:
    """Return what ``value`` says it consumed, or ``None`` when it is not a provider response."""
    if value is None or isinstance(value, _PLAIN):
        return None
    if isinstance(value, Mapping):
        return _read_body(value)
    http = _http_response(value)
    if http is not None:
        return _read_http(http)
    return _read_object(value)


def is_stream(value: Any) -> bool:
    """Return whether ``value`` is a stream of chunks (or a ``stream()`` helper's manager)."""
    if value is None or isinstance(value, (*_PLAIN, Mapping)):
        return False
    kind = type(value)
    found = _STREAM_CLASSES.get(kind)
    if found is None:  # asked once per class (pydantic's metaclass raises to answer no)
        found = kind.__name__.endswith(_STREAM_MANAGER_SUFFIX) or (
            hasattr(kind, "__next__") or hasattr(kind, "__anext__")
        )
        if len(_STREAM_CLASSES) < _KEEP_CLASSES:
            _STREAM_CLASSES[kind] = found
    return found


class StreamTally:
    """Add up the usage a stream's chunks report; not thread-safe (one stream, one reader).

    OpenAI Chat Completions send it in the last chunk (``stream_options=
    {"include_usage": True}``), the Responses API in its ``response.completed``
    event, Anthropic in ``message_start`` (input, cache) and ``message_delta``
    (output so far). The stream helpers' events wrap the same chunks.
    """

    __slots__ = ("_cost", "_model", "_start", "_usage")

    def __init__(self) -> None:
        self._usage: Usage | None = None
        self._start: Usage | None = None
        self._cost: Decimal | None = None
        self._model: str | None = None

    def add(self, chunk: Any) -> None:
        """Take what one chunk or event says about usage."""
        plain = _UNTYPED.get(type(chunk))
        if plain is None:
            plain = _UNTYPED[type(chunk)] = _untyped_chunk_class(type(chunk))
        if plain and not chunk.__pydantic_extra__:
            # A Chat Completions chunk: no event type, usage only in the last one. Read as the
            # general path below reads it, straight from the model's fields.
            values = chunk.__dict__
            model = values.get("model")
            if isinstance(model, str) and model:
                self._model = model
            if values.get("usage") is None:
                return
        kind = _get(chunk, "type")
        if kind == "chunk":  # openai's stream helper wraps each raw chunk
            chunk = _get(chunk, "chunk")
            kind = None
        if kind == "message_start":
            message = _get(chunk, "message")
            self._start = usage_from_response(message)
            self._model = _model_of(message) or self._model
            self._usage = self._start
            return
        if kind == "message_delta":
            output = _count(_get(chunk, "usage"), "output_tokens")
            if self._start is not None and output is not None:
                self._usage = _with_output(self._start, output)
            return
        if isinstance(kind, str) and kind.startswith("response.") and _get(chunk, "response"):
            chunk = _get(chunk, "response")
        self._model = _model_of(chunk) or self._model
        if _get(chunk, "usage") is None:
            return
        reading = read_response(chunk)
        if reading is not None and reading.usage is not None:
            self._usage = reading.usage
            self._cost = reading.cost if reading.cost is not None else self._cost

    def add_final(self, snapshot: Any) -> None:
        """Take the usage of a stream helper's final snapshot, when its chunks gave none."""
        if self._usage is not None or snapshot is None:
            return
        reading = read_response(snapshot)
        if reading is not None and reading.usage is not None:
            self._usage, self._cost = reading.usage, reading.cost
            self._model = reading.model or self._model

    def reading(self) -> Reading:
        """Return what the chunks so far reported (unmetered when none carried usage)."""
        usage = self._usage
        if usage is not None and usage.model is None and self._model is not None:
            usage = _with_model(usage, self._model)
        return Reading(usage=usage, cost=self._cost, model=self._model)


#: Per chunk class: whether it is a pydantic model with ``model`` and ``usage`` and no ``type``.
_UNTYPED: dict[type, bool] = {}


def _untyped_chunk_class(kind: type) -> bool:
    fields = getattr(kind, "__pydantic_fields__", None)
    return (
        isinstance(fields, dict)
        and "model" in fields
        and "usage" in fields
        and "type" not in fields
        and hasattr(kind, "__pydantic_extra__")
        and not hasattr(kind, "type")
    )


def _read_body(body: Mapping[str, Any]) -> Reading | None:
    usage = body.get("usage")
    model = _model_of(body)
    if usage is None:
        billed = model is not None and _looks_billed(body)
        return Reading(usage=None, model=model) if billed else None
    read = usage_from_response(body)
    cost = _cost_of(usage)
    hidden = body.get("_hidden_params")
    if cost is None and isinstance(hidden, Mapping):
        cost = reported_cost(hidden.get("response_cost"))
    if cost is None:
        cost = reported_cost(body.get("response_cost"))
    return Reading(usage=read, cost=cost, model=model)


def _read_object(value: Any) -> Reading | None:
    usage = _get(value, "usage")
    model = _model_of(value)
    if usage is None:
        return None
    read = usage_from_response(value)
    cost = _cost_of(usage)
    hidden = _get(value, "_hidden_params")
    if cost is None and isinstance(hidden, Mapping):
        cost = reported_cost(hidden.get("response_cost"))
    return Reading(usage=read, cost=cost, model=model)


def _http_response(value: Any) -> Any:
    """Return the httpx.Response of ``value`` (itself, or a raw response's), else None."""
    kind = type(value)
    if kind.__name__ == "Response" and kind.__module__.startswith("httpx"):
        return value
    inner = _get(value, "http_response")
    if inner is not None and type(inner).__module__.startswith("httpx"):
        return inner
    return None


def _read_http(response: Any) -> Reading | None:
    content_type = str(response.headers.get("content-type", ""))
    if "json" not in content_type:
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RuntimeError, AttributeError):
        # Not read yet (a streamed raw response) or not JSON: cannot be metered.
        return Reading(usage=None)
    return _read_body(body) if isinstance(body, Mapping) else None


def _looks_billed(body: Mapping[str, Any]) -> bool:
    """Return whether a body without usage is still a model's answer (so unmetered)."""
    return any(key in body for key in ("choices", "content", "output", "completion"))


def _cost_of(usage: Any) -> Decimal | None:
    return reported_cost(_get(usage, "cost"))


def reported_cost(value: Any) -> Decimal | None:
    """Return a cost a provider or gateway reported, in dollars, ``0`` kept.

    ``None`` when there is none, or it is not a finite amount of at least 0.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def _model_of(value: Any) -> str | None:
    model = _get(value, "model")
    return model if isinstance(model, str) and model else None


def _with_output(start: Usage, output: int) -> Usage:
    return Usage(
        model=start.model, input_tokens=start.input_tokens, output_tokens=output,
        cached_tokens=start.cached_tokens, cache_write_tokens=start.cache_write_tokens,
    )  # fmt: skip


def _with_model(usage: Usage, model: str) -> Usage:
    return Usage(
        model=model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )  # fmt: skip


_get = field_of


def _count(obj: Any, name: str) -> int | None:
    value = _get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
