"""Money in the REST API: exact decimal strings, never floats in exponent form."""

from __future__ import annotations

from decimal import Decimal

from tests.server.conftest import LiveServer
from toolkeeper.server import Role


def test_operations_and_metrics_send_money_as_exact_decimal_strings(
    live_server: LiveServer,
) -> None:
    """A cost of $0.00001 is sent as "0.00001" (JSON floats would write 1e-05), on both stores."""
    keeper = live_server.keeper
    for _ in range(3):
        with keeper.operation("pennies", "call") as op:
            op.cost(Decimal("0.00001"))
    keeper.flush()
    with live_server.client(Role.VIEWER) as client:
        operations = client.get("/api/v1/operations", params={"tool": "pennies"}).json()
        metrics = client.get("/api/v1/tools/pennies/metrics", params={"since": "5m"}).json()
    assert [op["cost_estimate"] for op in operations["items"]] == ["0.00001"] * 3
    costs = [bucket["cost_usd"] for bucket in metrics["buckets"]]
    assert all(isinstance(cost, str) and "e" not in cost.lower() for cost in costs)
    assert sum(Decimal(cost) for cost in costs) == Decimal("0.00003")


def test_exports_send_money_as_exact_decimal_strings(live_server: LiveServer) -> None:
    """GET /export writes a cost of $0.00001 as "0.00001" in JSON and in CSV, not 1e-05."""
    import csv
    import io

    keeper = live_server.keeper
    with keeper.operation("export-pennies", "call") as op:
        op.cost(Decimal("0.00001"))
    keeper.flush()
    with live_server.client(Role.VIEWER) as client:
        as_json = client.get("/api/v1/export", params={"format": "json", "tool": "export-pennies"})
        as_csv = client.get("/api/v1/export", params={"format": "csv", "tool": "export-pennies"})
    assert [row["cost_estimate"] for row in as_json.json()] == ["0.00001"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["cost_estimate"] for row in rows] == ["0.00001"]
