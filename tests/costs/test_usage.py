"""Usage values and their extraction from OpenAI-compatible responses."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from toolkeeper.costs import Usage, usage_from_response
from toolkeeper.costs.usage import field_of

CHAT = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-2024-08-06",
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 128},
    },
}


def test_chat_completion_dict_gives_every_count() -> None:
    """Read prompt, completion, cached and reasoning tokens and the model from a dict."""
    assert usage_from_response(CHAT) == Usage(
        model="gpt-4o-2024-08-06",
        input_tokens=1200,
        output_tokens=300,
        cached_tokens=1024,
        reasoning_tokens=128,
    )


def test_client_objects_read_like_dicts() -> None:
    """Read the same counts from attribute objects such as the openai client's models."""
    usage = SimpleNamespace(
        prompt_tokens=10,
        completion_tokens=5,
        prompt_tokens_details=None,
        completion_tokens_details=SimpleNamespace(reasoning_tokens=2),
    )
    response = SimpleNamespace(model="o3-mini", usage=usage)
    assert usage_from_response(response) == Usage(
        model="o3-mini", input_tokens=10, output_tokens=5, reasoning_tokens=2
    )


def test_responses_api_and_anthropic_shapes() -> None:
    """Read the Responses API, and add Anthropic's cache reads and writes back into input."""
    responses = {
        "model": "gpt-4.1",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 7,
            "input_tokens_details": {"cached_tokens": 20},
            "output_tokens_details": {"reasoning_tokens": 3},
        },
    }
    anthropic = {
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 4,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 30,
        },
    }
    assert usage_from_response(responses) == Usage(
        model="gpt-4.1", input_tokens=50, output_tokens=7, cached_tokens=20, reasoning_tokens=3
    )
    assert usage_from_response(anthropic) == Usage(
        model="claude-sonnet-4-5",
        input_tokens=140,
        output_tokens=4,
        cached_tokens=100,
        cache_write_tokens=30,
    )


@pytest.mark.parametrize("response", [None, {}, {"usage": None}, {"usage": {"other": 1}}, "text"])
def test_responses_without_usage_give_none(response: object) -> None:
    """Return None, not zero usage, when a response reports no usage."""
    assert usage_from_response(response) is None


def test_usage_refuses_impossible_counts() -> None:
    """Refuse negative counts and parts larger than their whole."""
    with pytest.raises(ValueError, match="input_tokens"):
        Usage(input_tokens=-1)
    with pytest.raises(ValueError, match="cannot exceed input_tokens"):
        Usage(input_tokens=5, cached_tokens=6)
    with pytest.raises(ValueError, match="cannot exceed output_tokens"):
        Usage(output_tokens=1, reasoning_tokens=2)


def test_usages_add_up() -> None:
    """Add two usages field by field, keeping the model only when both agree."""
    one = Usage(model="m", input_tokens=1, output_tokens=2, seconds=Decimal("1.5"))
    two = Usage(model="m", input_tokens=3, output_tokens=4, characters=7)
    assert one + two == Usage(
        model="m", input_tokens=4, output_tokens=6, requests=2, characters=7, seconds=Decimal("1.5")
    )
    assert (one + Usage(model="n")).model is None


class _Answer(BaseModel):
    """A pydantic response with extras allowed, a private attribute and a property."""

    model_config = ConfigDict(extra="allow")
    model: str
    usage: dict[str, int] | None = None
    _hidden_params: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def shouted(self) -> str:
        """Return the model name in capitals."""
        return self.model.upper()


def test_field_of_reads_pydantic_fields_extras_privates_and_properties_as_getattr_does() -> None:
    """Read each kind of pydantic attribute as getattr does, and None for what it lacks."""
    answer = _Answer(model="m", usage={"prompt_tokens": 3}, type="message")
    answer._hidden_params["response_cost"] = 0.5
    assert field_of(answer, "model") == "m"
    assert field_of(answer, "usage") == {"prompt_tokens": 3}
    assert field_of(answer, "type") == "message"  # an extra
    assert field_of(answer, "_hidden_params") == {"response_cost": 0.5}
    assert field_of(answer, "shouted") == "M"
    assert field_of(answer, "no_such_thing") is None
    assert field_of(_Answer(model="x"), "type") is None
    for name in ("model", "usage", "type", "_hidden_params", "shouted", "no_such_thing"):
        assert field_of(answer, name) == getattr(answer, name, None)
    assert field_of({"model": "d"}, "model") == "d"
    assert field_of(None, "model") is None
