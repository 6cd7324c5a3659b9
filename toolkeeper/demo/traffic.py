"""What the demo's simulated users ask: a template and its variables, drawn at random.

Three kinds of request, in the proportions a support product might see: short
customer questions (mostly routed to the weak model), summaries of incident
notes (long, so some go to the strong model) and code reviews (routed to the
strong model). About one request in a hundred forgets a variable, as a real
application's bug would, and fails in the template step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["SampleRequest", "draw_request"]

_PLANS = ("free", "team", "enterprise")
_QUESTIONS = (
    "How do I reset my password?",
    "Where can I download last month's invoice?",
    "Can I change the region of my project?",
    "Why does my deployment fail with a timeout, and how do I debug it?",
    "What is the difference between the team and enterprise plans?",
    "Explain why my bill went up and compare it with the previous month.",
    "How do I invite a colleague?",
    "Is there an API to export my data?",
)
_DOCUMENTS = (
    "At 09:12 the checkout service started returning errors. The on-call engineer saw the "
    "database connection pool exhausted after a deploy that doubled the worker count. The "
    "deploy was rolled back at 09:31 and errors stopped at 09:33. Follow-ups: cap the pool "
    "per worker, alert on pool saturation, and add a canary stage to the deploy pipeline.",
    "The nightly export job has been slow for a week. Profiling shows most time spent "
    "serialising rows one at a time. Batching writes in groups of a thousand cut the run "
    "from 48 minutes to 6 in staging. We still need to evaluate the memory trade-off on the "
    "largest tenants and decide whether to stream results instead.",
    "Customers in the EU region saw login delays of up to 20 seconds between 14:00 and "
    "14:40. A certificate rotation restarted the identity proxies one zone at a time, and "
    "the remaining zone could not absorb the load. Next time, rotate with a surge instance "
    "per zone and watch p95 latency before moving on.",
)
_CHANGES = (
    ("Python", "def total(items):\n    return sum(i.price for i in items if i.price > 0)"),
    ("Python", "def retry(fn):\n    while True:\n        try:\n            return fn()\n"
               "        except Exception:\n            pass"),
    ("TypeScript", "function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); "
                   "t = setTimeout(() => fn(...a), ms); }; }"),
)  # fmt: skip
_FORGETFUL = 0.01


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """One user's request: who asks, which template, with which variables."""

    user: str
    template: str
    variables: dict[str, object]


def draw_request(rng: random.Random, *, users: int) -> SampleRequest:
    """Return a random request from one of ``users`` users."""
    user = f"user-{rng.randrange(users) + 1:03d}"
    kind = rng.choices(("support", "summarize", "code_review"), weights=(6, 3, 2))[0]
    variables: dict[str, object]
    if kind == "support":
        variables = {"plan": rng.choice(_PLANS), "question": rng.choice(_QUESTIONS)}
    elif kind == "summarize":
        variables = {"kind": "incident report", "document": rng.choice(_DOCUMENTS)}
    else:
        language, code = rng.choice(_CHANGES)
        variables = {"language": language, "code": code}
    if rng.random() < _FORGETFUL:
        variables.pop(rng.choice(sorted(variables)))
    return SampleRequest(user=user, template=kind, variables=variables)
