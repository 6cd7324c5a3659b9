"""The demo: a fake OpenAI-compatible provider on loopback and a simulated application using it.

``toolkeeper demo`` starts a :class:`Demo` (the provider and its configuration),
opens a keeper on that configuration and starts the workload; see
:mod:`toolkeeper.demo.launch`. The pieces are public so tests, of toolkeeper
and of applications, can run against the same provider. Needs the ``server`` extra.
"""

from toolkeeper.demo.background import RunningWorkload, start_workload
from toolkeeper.demo.config import DEMO_KEY_ENV, demo_budgets, demo_config, template_dir
from toolkeeper.demo.launch import Demo
from toolkeeper.demo.pricing import PRICES_PER_MILLION_TOKENS, add_cost, cost_usd
from toolkeeper.demo.profiles import ModelProfile, Phase, Plan, demo_profiles
from toolkeeper.demo.provider import FakeProvider, Received, count_tokens
from toolkeeper.demo.serve import LoopbackServer
from toolkeeper.demo.workload import ModelCall, WorkloadStats, run_demo

__all__ = [
    "DEMO_KEY_ENV",
    "PRICES_PER_MILLION_TOKENS",
    "Demo",
    "FakeProvider",
    "LoopbackServer",
    "ModelCall",
    "ModelProfile",
    "Phase",
    "Plan",
    "Received",
    "RunningWorkload",
    "WorkloadStats",
    "add_cost",
    "cost_usd",
    "count_tokens",
    "demo_budgets",
    "demo_config",
    "demo_profiles",
    "run_demo",
    "start_workload",
    "template_dir",
]
