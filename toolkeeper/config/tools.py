"""The tool types toolkeeper knows out of the box: ``routellm`` and ``poml``."""

from __future__ import annotations

from typing import Annotated, Literal

from toolkeeper.config.fields import ConfigField
from toolkeeper.config.schema import BaseWrapperConfig, ExternalToolConfig, register_tool_type

__all__ = ["POMLConfig", "RouteLLMConfig"]


@register_tool_type("routellm")
class RouteLLMConfig(ExternalToolConfig):
    """A RouteLLM router choosing, per request, between a strong and a weak model."""

    router_type: Annotated[
        Literal["mf", "bert", "causal_llm", "sw_ranking", "random", "heuristic"],
        ConfigField(
            description="The router that scores requests: one of RouteLLM's (mf, bert, "
            "causal_llm, sw_ranking, random; extra [routellm]) or toolkeeper's own "
            "keyword heuristic (heuristic)."
        ),
    ] = "mf"
    checkpoint_path: Annotated[
        str | None,
        ConfigField(
            description="The RouteLLM router's checkpoint (hub id or local folder); "
            "default: RouteLLM's GPT-4-augmented checkpoint."
        ),
    ] = None
    threshold: Annotated[
        float,
        ConfigField(description="Score above which the strong model answers.", ge=0, le=1),
    ] = 0.11593
    strong_model: Annotated[str, ConfigField(description="Model for hard requests.")] = "gpt-4o"
    weak_model: Annotated[str, ConfigField(description="Model for easy requests.")] = "gpt-4o-mini"


@register_tool_type("poml")
class POMLConfig(BaseWrapperConfig):
    """A POML prompt-template engine rendering templates from a folder."""

    template_dir: Annotated[str, ConfigField(description="Folder holding the .poml templates.")] = (
        "prompts"
    )
    strictness: Annotated[
        Literal["lenient", "warn", "strict"],
        ConfigField(description="What an undefined template variable does."),
    ] = "strict"
