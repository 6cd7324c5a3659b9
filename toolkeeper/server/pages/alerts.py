"""``/alerts``: alerts by state with filters, their history, silences; operators act on them.

States shown: firing (NoData and Error included), pending, acknowledged,
silenced (or inhibited) and resolved (in the last day); ``?show=`` picks one,
``?q=`` keeps the alerts and events whose rule or tool contains the text.
Operators acknowledge, escalate and silence an alert from its row. The
runtime versions of alerting are listed with who, when and why; admins see
what each changed (notifier URLs masked), set or remove a notifier and roll
back (:mod:`toolkeeper.server.pages.alert_config`).

A silence made here is the signed-in token's, like one made through the API;
forms carry the session's CSRF token. Viewers see the same page without forms.
Notifier URLs appear only masked. The page's script polls ``/api/v1/alerts``
and reloads when an alert changes state (unless a form is being filled in).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from toolkeeper.alerts import AlertStatus, Silence
from toolkeeper.alerts.matchers import parse_matcher
from toolkeeper.alerts.rules import WINDOWED_METRICS
from toolkeeper.keeper import Keeper
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.api.alerts import (
    acknowledge_alert,
    create_silence,
    escalate_alert,
    expire_silence,
)
from toolkeeper.server.auth import Principal
from toolkeeper.server.errors import ApiError
from toolkeeper.server.pages._access import (
    AdminPage,
    SignedIn,
    check_form_csrf,
    require_role,
)
from toolkeeper.server.pages._alert_versions import versions_view
from toolkeeper.server.pages._render import base_path, render
from toolkeeper.server.sessions import CSRF_FIELD
from toolkeeper.server.tokens import Role

__all__ = ["EVENTS_SHOWN", "FILTERS", "alerts_signature", "kind_of", "router"]

router = APIRouter(include_in_schema=False)

EVENTS_SHOWN = 50
#: Durations offered by a row's silence form; the general form takes any.
DURATIONS = ("30m", "1h", "2h", "4h", "8h", "24h", "7d")
NEW_SILENCE = "new"
_ACTIVE = ("firing", "pending", "nodata", "error")
#: The page's filters: what each shows.
FILTERS = ("all", "firing", "pending", "acknowledged", "silenced", "resolved")
_RESOLVED_SHOWN = timedelta(days=1)


def operator_page(principal: SignedIn) -> Principal:
    """Return the signed-in user if an operator or admin, else raise :class:`PageForbiddenError`."""
    return require_role(principal, Role.OPERATOR, "Silencing alerts is")


OperatorPage = Annotated[Principal, Depends(operator_page)]
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]


def alerts_signature(statuses: list[AlertStatus], silences: list[Silence]) -> str:
    """Return what the page's script compares to know the page is stale (see alerts.js)."""
    alerts = sorted(
        f"{s.rule}/{s.tool}/{s.state}/{'' if s.silenced_by is None else s.silenced_by}"
        f"/{s.acknowledged_by or ''}"
        for s in statuses
        if s.state in _ACTIVE
    )
    return ";".join(alerts) + "#" + ",".join(sorted(str(silence.id) for silence in silences))


def _row_key(rule: str, tool: str) -> str:
    return f"{rule}/{tool}"


def kind_of(status: AlertStatus) -> str:
    """Return the filter an alert falls under: silenced, acknowledged, firing, pending, resolved."""
    if status.state == "inactive":
        return "resolved" if status.resolved_at is not None else "inactive"
    if status.state == "pending":
        return "pending"
    if status.silenced_by is not None or status.inhibited_by:
        return "silenced"
    return "acknowledged" if status.acknowledged_by else "firing"


def _context(
    keeper: Keeper, principal: Principal, *, show: str = "all", query: str = ""
) -> dict[str, Any]:
    engine = keeper.alerts
    statuses = engine.statuses()
    silences = engine.silences()
    by_id = {silence.id: silence for silence in silences}
    now = engine.clock.now()
    recent = [
        s for s in statuses
        if s.state in _ACTIVE
        or (s.resolved_at is not None and now - s.resolved_at <= _RESOLVED_SHOWN)
    ]  # fmt: skip
    counts = {name: sum(kind_of(s) == name for s in recent) for name in FILTERS[1:]}
    counts["all"] = len(recent)
    needle = query.strip().lower()
    shown = [
        s for s in recent
        if (show == "all" or kind_of(s) == show)
        and (not needle or needle in s.rule.lower() or needle in s.tool.lower())
    ]  # fmt: skip
    events = engine.events(limit=EVENTS_SHOWN if not needle else 1000)
    if needle:
        events = [e for e in events if needle in e.rule.lower() or needle in e.tool.lower()]
    is_admin = principal.role.allows(Role.ADMIN)
    return {
        "alerts": [
            {
                "status": status,
                "kind": kind_of(status),
                "key": _row_key(status.rule, status.tool),
                "silence": None if status.silenced_by is None else by_id.get(status.silenced_by),
                "escalates": engine.escalation(status.rule, status.tool) is not None,
            }
            for status in shown
        ],
        "inactive_count": len(statuses) - len(recent),
        "filters": FILTERS,
        "show": show,
        "query": query,
        "counts": counts,
        "rules": engine.rules(),
        "events": events[:EVENTS_SHOWN],
        "max_events": EVENTS_SHOWN,
        "windowed": WINDOWED_METRICS,
        "silences": silences,
        "notifiers": [
            {"name": name, "urls": engine.notifier_urls_masked(name) if is_admin else []}
            for name in engine.notifier_names()
        ],
        "can_act": principal.role.allows(Role.OPERATOR),
        "is_admin": is_admin,
        "tested": None,
        "durations": DURATIONS,
        "signature": alerts_signature(statuses, silences),
        "config": versions_view(engine.config, is_admin=is_admin),
        "new_silence": NEW_SILENCE,
        "form_errors": {},
        "form_values": {},
    }


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    *,
    principal: SignedIn,
    keeper: KeeperDep,
    silenced: int | None = None,
    expired: int | None = None,
    acknowledged: Annotated[str | None, Query(max_length=401)] = None,
    escalated: Annotated[str | None, Query(max_length=401)] = None,
    show: Annotated[str, Query(max_length=20)] = "all",
    q: Annotated[str, Query(max_length=200)] = "",
    config: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
) -> HTMLResponse:
    """Render the alerts (filtered), their events and the silences; forms for operators only."""
    context = _context(keeper, principal, show=show if show in FILTERS else "all", query=q)
    context.update(silenced=silenced, expired=expired, acknowledged=acknowledged,
                   escalated=escalated, config_stored=config)  # fmt: skip
    return render(request, "alerts.html", context, principal=principal)


def _acted(request: Request, principal: Principal, keeper: Keeper, action: Any) -> Response:
    """Run an alert action; on an API error show the page with the reason, else ``None``."""
    try:
        action()
    except ApiError as exc:
        context = _context(keeper, principal)
        context["action_error"] = exc.message
        return render(request, "alerts.html", context, principal=principal,
                      status_code=exc.status)  # fmt: skip
    except RequestValidationError as exc:
        context = _context(keeper, principal)
        context["action_error"] = "; ".join(_errors(exc))
        return render(request, "alerts.html", context, principal=principal, status_code=422)
    return Response(status_code=204)


@router.post("/alerts/acknowledge", response_class=HTMLResponse)
def acknowledge(
    *, request: Request, principal: OperatorPage, keeper: KeeperDep, csrf: Csrf = None,
    rule: Annotated[str, Form(max_length=200)] = "",
    tool: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """Acknowledge a firing alert as the signed-in user, saying why; back to the page."""
    check_form_csrf(request, principal, csrf)
    data = {"rule": rule, "tool": tool, "comment": comment}
    done = _acted(request, principal, keeper,
                  lambda: acknowledge_alert(keeper.alerts, data, actor=principal.name))  # fmt: skip
    if done.status_code != 204:
        return done
    target = urlencode({"acknowledged": _row_key(rule, tool)})
    return RedirectResponse(f"{base_path(request)}/alerts?{target}", status_code=303)


@router.post("/alerts/escalate", response_class=HTMLResponse)
def escalate(
    *, request: Request, principal: OperatorPage, keeper: KeeperDep, csrf: Csrf = None,
    rule: Annotated[str, Form(max_length=200)] = "",
    tool: Annotated[str, Form(max_length=200)] = "",
) -> Response:  # fmt: skip
    """Notify the next level of a firing alert's escalation now; back to the page."""
    check_form_csrf(request, principal, csrf)
    data = {"rule": rule, "tool": tool}
    done = _acted(request, principal, keeper,
                  lambda: escalate_alert(keeper.alerts, data, actor=principal.name))  # fmt: skip
    if done.status_code != 204:
        return done
    target = urlencode({"escalated": _row_key(rule, tool)})
    return RedirectResponse(f"{base_path(request)}/alerts?{target}", status_code=303)


def _matchers(lines: str) -> list[dict[str, str]]:
    """Return the matchers written one a line as the API takes them; bad ones name themselves."""
    found = []
    for line in lines.splitlines():
        if not line.strip():
            continue
        try:
            matcher = parse_matcher(line)
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ("body", "matchers"), "msg": f"matchers: {exc}", "type": "value_error"}]
            ) from None
        found.append({"name": matcher.name, "op": matcher.op, "value": matcher.value})
    return found


def _errors(exc: RequestValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        names = [str(part) for part in error.get("loc", ()) if isinstance(part, str)]
        field = names[-1] if names and names[-1] != "body" else "form"  # matchers, not its index
        text = str(error.get("msg", "invalid"))
        messages.append(f"{field}: {text}" if not text.startswith(field) else text)
    return messages


@router.post("/alerts/silence", response_class=HTMLResponse)
def silence(
    *, request: Request, principal: OperatorPage, keeper: KeeperDep, csrf: Csrf = None,
    rule: Annotated[str, Form(max_length=200)] = "*",
    tool: Annotated[str, Form(max_length=200)] = "*",
    matchers: Annotated[str, Form(max_length=10_000)] = "",
    duration: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    row: Annotated[str, Form(max_length=500)] = NEW_SILENCE,
) -> Response:  # fmt: skip
    """Silence a rule on a tool (and label matchers, one a line) for a while; back to the page."""
    check_form_csrf(request, principal, csrf)
    data: dict[str, Any] = {"rule": rule, "tool": tool, "duration": duration.strip(),
                            "comment": comment}  # fmt: skip
    try:
        data["matchers"] = _matchers(matchers)
        created = create_silence(keeper.alerts, data, actor=principal.name)
    except RequestValidationError as exc:
        context = _context(keeper, principal)
        context["form_errors"] = {row: _errors(exc)}
        context["form_values"] = {row: {**data, "matchers": matchers}}
        return render(request, "alerts.html", context, principal=principal, status_code=422)
    return RedirectResponse(f"{base_path(request)}/alerts?silenced={created.id}", status_code=303)


@router.post("/alerts/silences/{silence_id}/expire", response_class=HTMLResponse)
def expire(
    *, request: Request, principal: OperatorPage, keeper: KeeperDep, csrf: Csrf = None,
    silence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:  # fmt: skip
    """End a silence now, as the signed-in user; back to the page."""
    check_form_csrf(request, principal, csrf)
    try:
        ended = expire_silence(keeper.alerts, silence_id, actor=principal.name)
    except ApiError as exc:
        return render(
            request, "not_found.html", {"what": exc.message.capitalize() + "."},
            principal=principal, status_code=exc.status,
        )  # fmt: skip
    return RedirectResponse(f"{base_path(request)}/alerts?expired={ended.id}", status_code=303)


@router.post("/alerts/test", response_class=HTMLResponse)
def send_test_notification(
    *, request: Request, principal: AdminPage, keeper: KeeperDep, csrf: Csrf = None,
    notifier: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:  # fmt: skip
    """Send a test notification (one notifier, or every one) and show what was delivered."""
    check_form_csrf(request, principal, csrf)
    engine = keeper.alerts
    if notifier and notifier not in engine.notifier_names():
        return render(
            request, "not_found.html", {"what": f"There is no notifier {notifier!r}."},
            principal=principal, status_code=404,
        )  # fmt: skip
    outcomes = engine.test_notification(notifier or None)
    context = _context(keeper, principal)
    context.update(tested=outcomes, tested_ok=all(outcomes.values()))
    status = 200 if context["tested_ok"] else 502
    return render(request, "alerts.html", context, principal=principal, status_code=status)
