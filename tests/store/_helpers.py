"""Record factories and worker functions that spawned test processes import by name."""

from __future__ import annotations

from typing import Any

from toolkeeper._errors import VersionConflictError
from toolkeeper.store import ConfigVersionRecord, open_store


def config_record(**overrides: Any) -> ConfigVersionRecord:
    """Return a plausible record for the openai tool in development."""
    fields: dict[str, Any] = {
        "environment": "development",
        "tool": "openai",
        "values": {"timeout_seconds": 20},
        "actor": "ana",
        "reason": "upstream slow",
        "source": "code",
        "diff": [{"path": "timeout_seconds", "before": 30, "after": 20}],
    }
    fields.update(overrides)
    return ConfigVersionRecord(**fields)


def append_after_barrier(uri: str, expected_version: int, barrier: Any, results: Any) -> None:
    """Open the store, wait for every peer, append one version and report the outcome."""
    store = open_store(uri)
    try:
        barrier.wait(timeout=120)
        record = config_record(values={"timeout_seconds": 5}, actor="process")
        stored = store.append_config_version(record, expected_version=expected_version)
        results.put(("ok", stored.version))
    except VersionConflictError as exc:
        results.put(("conflict", exc.actual))
    except Exception as exc:  # noqa: BLE001 - report any other failure to the parent test
        results.put(("error", repr(exc)))
    finally:
        store.close()


def open_after_barrier(uri: str, barrier: Any, results: Any) -> None:
    """Wait for every peer, then open (and so migrate) the store and report the outcome."""
    try:
        barrier.wait(timeout=120)
        with open_store(uri) as store:
            results.put(("ok", store.config_cursor()))
    except Exception as exc:  # noqa: BLE001 - report any failure to the parent test
        results.put(("error", repr(exc)))
