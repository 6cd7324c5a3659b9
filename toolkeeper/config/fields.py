"""ConfigField: metadata and rules for one configuration field, inside the model.

A field is declared once, on the pydantic model, and its metadata travels with
it::

    class SearchConfig(ExternalToolConfig):
        region: Annotated[str, ConfigField(
            description="Where queries are served.", choices=("us", "eu"))] = "us"

``ConfigField`` plugs into pydantic's validation (range, allowed values, a
custom validator) and into its JSON schema (description), so nothing about a
field is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = ["ConfigField", "config_field_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigField:
    """Describe and constrain one configuration field.

    ``ge``/``le``/``gt``/``lt`` bound numbers; ``choices`` lists the allowed
    values; ``validator`` receives the parsed value and returns it (or a
    replacement) or raises ``ValueError`` with the rule it broke. ``sensitive``
    marks a secret: its values are masked wherever they are shown. ``env``
    names an extra environment variable that sets the field.
    """

    description: str = ""
    sensitive: bool = False
    env: str | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: Collection[Any] | None = None
    validator: Callable[[Any], Any] | None = None

    def check(self, value: Any) -> Any:
        """Apply the range, allowed values and custom validator to a parsed value."""
        if value is None:
            return value
        if self.ge is not None and not value >= self.ge:
            raise ValueError(f"must be greater than or equal to {self.ge:g}")
        if self.gt is not None and not value > self.gt:
            raise ValueError(f"must be greater than {self.gt:g}")
        if self.le is not None and not value <= self.le:
            raise ValueError(f"must be less than or equal to {self.le:g}")
        if self.lt is not None and not value < self.lt:
            raise ValueError(f"must be less than {self.lt:g}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"must be one of {allowed}")
        if self.validator is not None:
            value = self.validator(value)
        return value

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Run the field's rules after pydantic has parsed the value."""
        # Deferred: pydantic loads only when a model is built, not on `import toolkeeper`.
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source_type))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Carry the description, bounds, choices and sensitivity into the JSON schema."""
        json_schema = handler(schema)
        if self.description:
            json_schema["description"] = self.description
        for key, bound in (
            ("minimum", self.ge),
            ("maximum", self.le),
            ("exclusiveMinimum", self.gt),
            ("exclusiveMaximum", self.lt),
        ):
            if bound is not None:
                json_schema[key] = bound
        if self.choices is not None:
            json_schema["enum"] = list(self.choices)
        if self.sensitive:
            json_schema["writeOnly"] = True
        return json_schema


def config_field_of(model: type[BaseModel], name: str) -> ConfigField | None:
    """Return the ``ConfigField`` declared on ``model.name``, if any."""
    info = model.model_fields.get(name)
    if info is None:
        return None
    for item in info.metadata:
        if isinstance(item, ConfigField):
            return item
    return None
