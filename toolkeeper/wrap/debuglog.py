"""``debug_logging``: one DEBUG line per call of a tool that asks for it, secrets redacted.

The line goes to the ``toolkeeper.calls`` logger and names the tool, the
operation, the final status, the latency, the tokens, the cost (US dollars) and,
for a call that failed or fell back, the error as recorded (already redacted).
The whole line passes through :meth:`ToolRuntime.redact`, so a secret of the
tool that reached a label or an error is masked there too. A tool with
``debug_logging`` never takes the sync fast path: its calls cost what any
other recorded call costs, plus the log record when DEBUG is enabled.
"""

from __future__ import annotations

import logging

from toolkeeper.wrap.runtime import ToolRuntime

__all__ = ["CALL_LOGGER", "log_call"]

CALL_LOGGER = logging.getLogger("toolkeeper.calls")


def log_call(
    runtime: ToolRuntime,
    operation: str,
    status: str,
    duration_s: float,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float = 0.0,
    model: str | None = None,
    error: str | None = None,
) -> None:
    """Log one finished call of ``runtime``'s tool at DEBUG, if that level is enabled."""
    if not CALL_LOGGER.isEnabledFor(logging.DEBUG):
        return
    line = (
        f"tool={runtime.name} operation={operation} status={status} "
        f"latency_ms={duration_s * 1000:.1f} input_tokens={input_tokens} "
        f"output_tokens={output_tokens} cost_usd={cost:.6f}"
    )
    if model is not None:
        line += f" model={model}"
    if error is not None:
        line += f" error={error!r}"
    CALL_LOGGER.debug("%s", runtime.redact(line))
