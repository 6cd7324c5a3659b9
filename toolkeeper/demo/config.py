"""The demo's ``toolkeeper.toml``: four tools, tuned so that things happen within a minute.

- ``openai-strong``: the strong model at the fake provider. Its circuit opens
  once half of the last 12 calls fail (6 at least) and probes again after 8 s,
  so the outage opens it within seconds and recovery closes it soon after. Its
  daily budget (:func:`demo_budgets`) lasts about 45 minutes at the chosen
  rate, notifying at 25 %, 50 %, 80 % and 95 %; once spent, its budget policy
  sends calls to the fallback instead of failing them.
- ``openai-weak``: the weak model, the strong one's fallback. Its budget only
  warns: the fallback of last resort never refuses a call.
- ``router``: a ``routellm`` router choosing between them.
- ``prompts``: ``poml`` templates shipped in this package, strict about variables.

Alert rules, evaluated every two seconds, make each outage visible on the alerts
page: the strong model's open circuit fires at once, its fallback rate soon
after, and both resolve once it recovers; its budget burn fires past 80 %. No
notifier is configured: the alerts show on the page and are sent nowhere.

The API key is a reference (``env:TOOLKEEPER_DEMO_KEY``), never the key itself.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from pathlib import Path

from toolkeeper.demo.pricing import PRICES_PER_MILLION_TOKENS

__all__ = ["DEMO_KEY_ENV", "demo_budgets", "demo_config", "template_dir"]

DEMO_KEY_ENV = "TOOLKEEPER_DEMO_KEY"

#: Dollars of daily budget per request a second: at the strong model's measured
#: spend (about $0.023 a minute per request a second, outages included), its
#: budget lasts about 45 minutes and the weak one's several hours.
_STRONG_BUDGET_PER_RPS = Decimal("1.05")
_WEAK_BUDGET_PER_RPS = Decimal("0.50")

_TEMPLATE = """\
# The toolkeeper demo: a simulated application calling a fake LLM provider on loopback.

[defaults]
latency_objective_ms = 1500

[tools.openai-strong]
type = "external"
api_endpoint = "{base_url}"
api_key = "env:{key_env}"
timeout_seconds = 3
connect_timeout_seconds = 0.5
read_timeout_seconds = 2.5
max_retry_attempts = 1
retry_backoff_seconds = 0.1
retry_backoff_max_seconds = 1
circuit_failure_rate = 0.5
circuit_minimum_calls = 6
circuit_window_size = 12
circuit_open_seconds = 8
circuit_half_open_probes = 2
latency_objective_ms = 900
daily_budget = {strong_budget}
budget_policy = "fallback"
budget_alert_thresholds = [0.25, 0.5, 0.8, 0.95]

[tools.openai-weak]
type = "external"
api_endpoint = "{base_url}"
api_key = "env:{key_env}"
timeout_seconds = 2
connect_timeout_seconds = 0.5
read_timeout_seconds = 1.5
max_retry_attempts = 2
retry_backoff_seconds = 0.05
retry_backoff_max_seconds = 0.5
circuit_minimum_calls = 10
circuit_window_size = 20
circuit_open_seconds = 10
latency_objective_ms = 500
daily_budget = {weak_budget}
budget_policy = "warn"

[tools.router]
type = "routellm"
router_type = "heuristic"
threshold = {threshold}
strong_model = "gpt-4o"
weak_model = "gpt-4o-mini"

[tools.prompts]
type = "poml"
template_dir = "{template_dir}"
strictness = "strict"
latency_objective_ms = 50

[alerts]
evaluate_every = "2s"

[[alerts.rules]]
name = "strong-circuit-open"
tool = "openai-strong"
metric = "circuit_open"
op = "=="
threshold = 1
severity = "critical"

[[alerts.rules]]
name = "strong-fallbacks"
tool = "openai-strong"
metric = "fallback_rate"
op = ">"
threshold = 0.3
window = "1m"
for = "5s"
min_calls = 5
severity = "warning"

[[alerts.rules]]
name = "budget-burn"
tool = "openai-*"
metric = "budget_burn"
op = ">="
threshold = 0.8
severity = "warning"

[[alerts.rules]]
name = "tool-unhealthy"
tool = "*"
metric = "health_score"
op = "<"
threshold = 50
for = "30s"
severity = "warning"
"""


def template_dir() -> Path:
    """Return the folder of the demo's ``.poml`` templates (inside the installed package)."""
    return Path(__file__).with_name("prompts")


def demo_budgets(rate: float) -> tuple[str, str]:
    """Return the daily budgets (strong, weak) in dollars for a workload of ``rate`` requests/s.

    Sized so that the demo's story (an outage every cycle, each opening the
    strong model's circuit) lasts well past half an hour whatever the rate.
    """
    cents = Decimal("0.01")
    scale = Decimal(str(rate))
    strong = (_STRONG_BUDGET_PER_RPS * scale).quantize(cents, rounding=ROUND_UP)
    weak = (_WEAK_BUDGET_PER_RPS * scale).quantize(cents, rounding=ROUND_UP)
    return str(strong), str(weak)


def demo_config(
    base_url: str,
    *,
    key_env: str = DEMO_KEY_ENV,
    threshold: float = 0.3,
    strong_budget: str = "6.30",
    weak_budget: str = "3.00",
) -> str:
    """Return the demo's configuration as TOML, its models served at ``base_url`` (``.../v1``)."""
    return _TEMPLATE.format(
        base_url=base_url,
        key_env=key_env,
        threshold=threshold,
        strong_budget=strong_budget,
        weak_budget=weak_budget,
        template_dir=template_dir().as_posix(),
    ) + _prices()


def _prices() -> str:
    """Return ``[prices]`` for the demo's models, so the catalog prices them without genai-prices.

    The calls' costs come with their responses (:func:`~toolkeeper.demo.pricing.add_cost`);
    these prices let ``toolkeeper costs`` price what routing saved, from the same figures.
    """
    tables = [
        f'\n[prices."{model}"]\ninput_per_mtok = "{per_input}"\noutput_per_mtok = "{per_output}"\n'
        for model, (per_input, per_output) in PRICES_PER_MILLION_TOKENS.items()
    ]
    return "".join(tables)
