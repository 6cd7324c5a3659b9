"""Tests of toolkeeper.resilience: policy, retry, circuit breaker, fallbacks and the executor."""
