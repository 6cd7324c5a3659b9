"""A LiteLLM callback: each call an application makes through LiteLLM, recorded for a tool.

``litellm.callbacks = [LiteLLMCallback(keeper)]`` and each completion,
embedding, ... that LiteLLM makes (sync or async, streamed or not) is recorded
when LiteLLM reports it: operation = LiteLLM's ``call_type`` (``completion``,
``acompletion``, ``embedding``...), status success or error, the duration LiteLLM
measured, the model (label ``model``), every token kind of the response (input,
output, cached reads, cache writes, reasoning — read from LiteLLM's response as
``@keeper.tool`` reads a returned one, by :func:`toolkeeper.costs.responses.read_response`)
and LiteLLM's ``response_cost`` in US dollars (``0`` included). Without a cost from
LiteLLM the usage is priced from the catalog; a model without a price is recorded
unpriced (cost unknown, never $0), and a response whose usage cannot be read
is counted unmetered. An error is recorded with LiteLLM's
error class and message (the tool's secrets masked) and, when LiteLLM knows it,
the HTTP status as ``error_code`` (``HTTP_429``).

The tool is LiteLLM's provider of the call (``openai``, ``anthropic``...) unless
``tool`` names one, or maps a provider to a tool. The callback observes calls that
already happened: LiteLLM keeps its own retries and fallbacks, and toolkeeper's
circuit breakers, rate limits and budgets do not apply to these calls (wrap the
call with ``@keeper.tool`` for that). Needs the ``litellm`` package (extra ``[litellm]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from toolkeeper._errors import MissingDependencyError
from toolkeeper.costs.responses import Reading, read_response, reported_cost
from toolkeeper.costs.usage import Usage
from toolkeeper.monitor import OperationStatus
from toolkeeper.wrap.calls import kind_details, measure_reading
from toolkeeper.wrap.debuglog import log_call

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:
    raise MissingDependencyError("the LiteLLM callback", "litellm") from None

__all__ = ["LiteLLMCallback"]

ToolChoice = str | Mapping[str, str] | Callable[[Mapping[str, Any]], str]


def _seconds(start: object, end: object, payload: Mapping[str, Any]) -> float:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max((end - start).total_seconds(), 0.0)
    value = payload.get("response_time")
    return float(value) if isinstance(value, int | float) else 0.0


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _reading_of(response: Any, payload: Mapping[str, Any], model: str | None) -> Reading:
    """Return what a LiteLLM call consumed: its response's usage, with LiteLLM's cost.

    The response (a ``ModelResponse``, an embedding response, their dicts) is read
    as ``@keeper.tool`` reads a returned value, every token kind included. When it
    carries no usage, the counts LiteLLM logged (``prompt_tokens``,
    ``completion_tokens``) stand in; LiteLLM's ``response_cost`` (``0`` included)
    is the cost whenever it gave one.
    """
    found = read_response(response)
    cost = reported_cost(payload.get("response_cost"))
    if found is not None and found.usage is not None:
        reported = cost if cost is not None else found.cost
        return Reading(usage=found.usage, cost=reported, model=model or found.model)
    prompt, completion = payload.get("prompt_tokens"), payload.get("completion_tokens")
    if isinstance(prompt, int) or isinstance(completion, int):
        usage = Usage(model=model, input_tokens=_int(prompt), output_tokens=_int(completion))
        return Reading(usage=usage, cost=cost, model=model)
    if cost is None and found is not None:
        cost = found.cost
    return Reading(usage=None, cost=cost, model=model)


class LiteLLMCallback(CustomLogger):
    """Record LiteLLM's calls as operations of toolkeeper tools; thread-safe."""

    def __init__(self, keeper: Keeper, *, tool: ToolChoice | None = None) -> None:
        super().__init__()
        self.keeper = keeper
        self._tool = tool

    def tool_of(self, payload: Mapping[str, Any]) -> str:
        """Return the tool of a call: given, mapped from its provider, or the provider."""
        provider = str(payload.get("custom_llm_provider") or "litellm")
        if self._tool is None:
            return provider
        if isinstance(self._tool, str):
            return self._tool
        if isinstance(self._tool, Mapping):
            return self._tool.get(provider, provider)
        return self._tool(payload)

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Record a call LiteLLM reports as successful."""
        self._record(kwargs, start_time, end_time, response=response_obj)

    def log_failure_event(
        self,
        kwargs: dict[str, Any],
        response_obj: Any,  # noqa: ARG002 - a failure's response holds nothing to record
        start_time: Any,
        end_time: Any,
    ) -> None:
        """Record a call LiteLLM reports as failed."""
        self._record(kwargs, start_time, end_time, failed=True)

    # Recording queues one record and does no I/O, so the async hooks run the sync ones inline.
    async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
        """Record an async call LiteLLM reports as successful (as :meth:`log_success_event`)."""
        self.log_success_event(*args, **kwargs)

    async def async_log_failure_event(self, *args: Any, **kwargs: Any) -> None:
        """Record an async call LiteLLM reports as failed (as :meth:`log_failure_event`)."""
        self.log_failure_event(*args, **kwargs)

    def _record(
        self,
        kwargs: Mapping[str, Any],
        start: object,
        end: object,
        *,
        failed: bool = False,
        response: Any = None,
    ) -> None:
        payload: Mapping[str, Any] = kwargs.get("standard_logging_object") or {}
        runtime = self.keeper.runtimes.get(self.tool_of(payload))
        if not runtime.config.monitoring_enabled:
            return
        operation = str(payload.get("call_type") or kwargs.get("call_type") or "completion")
        duration = _seconds(start, end, payload)
        model = payload.get("model") or kwargs.get("model")
        model = str(model) if model else None
        labels = {"model": model} if model else None
        if not failed:
            # The stream's whole answer when LiteLLM assembled one, else what it handed us.
            whole = kwargs.get("complete_streaming_response")
            reading = _reading_of(whole if whole is not None else response, payload, model)
            input_tokens, output_tokens, cost, _, unpriced, kinds = measure_reading(
                runtime, reading
            )
            self.keeper.monitoring.record(
                runtime.name, operation, OperationStatus.SUCCESS, duration, cost=cost,
                input_tokens=input_tokens, output_tokens=output_tokens, model=model,
                unpriced=unpriced or None, **kind_details(kinds),
            )  # fmt: skip
            if runtime.debug:
                log_call(
                    runtime, operation, "success", duration, input_tokens=input_tokens,
                    output_tokens=output_tokens, cost=cost, model=model,
                )  # fmt: skip
            return
        info = payload.get("error_information") or {}
        kind = str(info.get("error_class") or "LiteLLMError")
        text = str(payload.get("error_str") or kwargs.get("exception") or "failed")
        message = runtime.redact(f"{kind}: {text}")[:500]
        code = str(info.get("error_code") or "")
        self.keeper.monitoring.record(
            runtime.name, operation, OperationStatus.ERROR, duration, model=model,
            error_message=message, error_code=f"HTTP_{code}" if code.isdigit() else kind,
            labels=labels,
        )  # fmt: skip
        if runtime.debug:
            log_call(runtime, operation, "error", duration, model=model, error=message)
