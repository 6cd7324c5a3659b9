"""Wrap calls to external tools: the decorator, the operation block, and per-tool runtimes."""

from toolkeeper.wrap.decorate import FallbackSpec, ToolWrapping
from toolkeeper.wrap.runtime import Runtimes, ToolRuntime, policy_for
from toolkeeper.wrap.scope import OperationScope

__all__ = [
    "FallbackSpec",
    "OperationScope",
    "Runtimes",
    "ToolRuntime",
    "ToolWrapping",
    "policy_for",
]
