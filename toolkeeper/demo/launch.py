"""The simulated world behind ``toolkeeper demo``: a fake provider, its configuration, a workload.

Usage, by the command that also serves the dashboard::

    with Demo.start() as demo:                        # provider on loopback, key in the env
        keeper = Keeper.open(demo.config_file(path))  # the demo's toolkeeper.toml
        demo.start_workload(keeper)                   # users in a background thread
        for line in demo.describe():
            print(line)
        ...                                           # serve until interrupted
    keeper.close()

:meth:`Demo.stop` (or leaving the ``with`` block) stops the workload, then the provider.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

from toolkeeper._clock import Clock
from toolkeeper.config.files import ConfigFile
from toolkeeper.demo.background import RunningWorkload, start_workload
from toolkeeper.demo.config import DEMO_KEY_ENV, demo_budgets, demo_config
from toolkeeper.demo.profiles import DEFAULT_CYCLE_S, ModelProfile, demo_profiles
from toolkeeper.demo.provider import FakeProvider
from toolkeeper.demo.serve import LoopbackServer

if TYPE_CHECKING:
    from toolkeeper.keeper import Keeper

__all__ = ["Demo"]


class Demo:
    """A running fake provider and what the demo needs to point a keeper and a workload at it."""

    def __init__(self, provider: FakeProvider, server: LoopbackServer) -> None:
        self.provider = provider
        self.server = server
        self.workload: RunningWorkload | None = None

    @classmethod
    def start(
        cls,
        *,
        environ: MutableMapping[str, str] | None = None,
        profiles: Mapping[str, ModelProfile] | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        cycle_s: float = DEFAULT_CYCLE_S,
    ) -> Demo:
        """Start the fake provider on a free loopback port.

        The strong model fails every ``cycle_s`` seconds (unless ``profiles``
        says otherwise; see :func:`~toolkeeper.demo.profiles.demo_profiles`).
        Its API key is read from ``$TOOLKEEPER_DEMO_KEY``, or made up and put there
        (in ``environ``, by default the process environment) for the keeper's
        ``env:`` reference to find.
        """
        environ = os.environ if environ is None else environ
        key = environ.get(DEMO_KEY_ENV) or f"tk-demo-{secrets.token_urlsafe(18)}"
        environ[DEMO_KEY_ENV] = key
        if profiles is None:
            profiles = demo_profiles(cycle_s)
        provider = FakeProvider(profiles, api_key=key, clock=clock, seed=seed)
        return cls(provider, LoopbackServer.start(provider.app))

    @property
    def base_url(self) -> str:
        """Return the provider's OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"{self.server.url}/v1"

    def config_text(self, *, rate: float = 6.0) -> str:
        """Return the demo's ``toolkeeper.toml`` at this provider, budgets sized for ``rate``."""
        strong, weak = demo_budgets(rate)
        return demo_config(self.base_url, strong_budget=strong, weak_budget=weak)

    def config_file(self, path: str | Path | None = None, *, rate: float = 6.0) -> ConfigFile:
        """Return the demo's configuration, first written to ``path`` if one is given."""
        text = self.config_text(rate=rate)
        if path is None:
            return ConfigFile.parse(text)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return ConfigFile.parse(text, path=path)

    def start_workload(
        self, keeper: Keeper, *, users: int = 8, rate: float = 6.0, seed: int | None = None
    ) -> RunningWorkload:
        """Start the simulated users against ``keeper`` (opened on :meth:`config_file`)."""
        if self.workload is not None and self.workload.running:
            raise RuntimeError("the demo workload is already running")
        self.workload = start_workload(keeper, users=users, rate=rate, seed=seed)
        return self.workload

    def describe(self) -> list[str]:
        """Return lines telling a newcomer what the demo simulates and when things happen."""
        lines = [f"fake LLM provider (OpenAI chat completions): {self.base_url}"]
        lines += [
            f"  {model}: {profile.describe()}"
            for model, profile in sorted(self.provider.profiles.items())
        ]
        lines.append(
            "workload: each request renders a template (prompts), is routed (router) and "
            "answered by openai-strong, falling back to openai-weak, or by openai-weak"
        )
        return lines

    def stop(self) -> None:
        """Stop the workload (if started), then the provider."""
        try:
            if self.workload is not None:
                self.workload.stop()
        finally:
            self.server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Demo(base_url={self.base_url!r}, workload={self.workload!r})"
