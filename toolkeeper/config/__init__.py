"""Configuration: typed models, layered sources, secrets and runtime versions."""

from toolkeeper._secrets import Keyring, Secret
from toolkeeper.config import tools as _builtin_tools  # registers routellm and poml
from toolkeeper.config.fields import ConfigField
from toolkeeper.config.files import ConfigFile
from toolkeeper.config.live import Configuration, ConfigVersion
from toolkeeper.config.schema import (
    BaseWrapperConfig,
    ExternalToolConfig,
    register_tool_type,
    tool_type,
)
from toolkeeper.config.tools import POMLConfig, RouteLLMConfig

del _builtin_tools

__all__ = [
    "BaseWrapperConfig",
    "ConfigField",
    "ConfigFile",
    "ConfigVersion",
    "Configuration",
    "ExternalToolConfig",
    "Keyring",
    "POMLConfig",
    "RouteLLMConfig",
    "Secret",
    "register_tool_type",
    "tool_type",
]
