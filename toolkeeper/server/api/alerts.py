"""``/api/v1/alerts``: alert states and rules, events, silences, acknowledgements, escalations.

Everyone signed in reads; operators create and expire silences, acknowledge
and escalate alerts (the actor is the token's name); admins send test
notifications. Notifier URLs are secrets:
they appear only masked. States come from the store, so every process agrees.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from toolkeeper._text import SaidText, StoredText
from toolkeeper.alerts import AlertEngine, AlertEvent, AlertRule, AlertStatus, Silence
from toolkeeper.alerts.matchers import LABEL_NAME, Matcher
from toolkeeper.server.api._body import read_json_object
from toolkeeper.server.api._shared import KeeperDep
from toolkeeper.server.auth import Admin, Operator
from toolkeeper.server.errors import ApiError, error_responses
from toolkeeper.store.alert_records import silence_seconds

__all__ = [
    "AcknowledgeRequest",
    "AlertEvents",
    "AlertRuleEntry",
    "AlertsOverview",
    "EqualityMatcher",
    "LabelMatcher",
    "NotificationTest",
    "NotifierEntry",
    "RegexMatcher",
    "SilenceList",
    "SilenceRequest",
    "acknowledge_alert",
    "create_silence",
    "escalate_alert",
    "expire_silence",
    "router",
]

router = APIRouter(prefix="/alerts", tags=["alerts"])

#: A silence's duration: longer than 0s and at most 366d, said by the pattern itself (each unit
#: bounds its digits), so a value the schema allows is one the API accepts.
DURATION_PATTERN = (
    r"^\s*(?:[1-9]\d{0,8}(?:\.\d{1,3})?\s*ms|[1-9]\d{0,6}(?:\.\d{1,3})?\s*s"
    r"|[1-9]\d{0,4}(?:\.\d{1,3})?\s*m|[1-9]\d{0,2}(?:\.\d{1,3})?\s*h"
    r"|(?:36[0-6]|3[0-5]\d|[12]\d\d|[1-9]\d?)\s*d|(?:5[0-2]|[1-4]\d|[1-9])\s*w)\s*$"
)
_MAX_ID = 2**31 - 1
LABEL_PATTERN = f"^{LABEL_NAME.pattern}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertRuleEntry(_Model):
    """A rule: when ``metric`` over ``window`` compares to ``threshold`` for ``for_seconds``."""

    name: str
    tool: str = Field(description="A tool name or a glob ('*' is every tool).")
    metric: str = Field(description="The metric; empty for an expression rule.")
    op: str
    threshold: float
    expr: str = Field(description="The condition of an expression rule; empty otherwise.")
    window: str
    for_seconds: float
    keep_firing_for_seconds: float
    severity: str
    notify: list[str] = Field(description="Notifier names; empty: the policies route it.")
    min_calls: int
    labels: dict[str, str]
    no_data: str
    on_error: str
    matchers: list[str] = Field(
        description="Label matchers over tool, operation and model, as Alertmanager writes them."
    )

    @classmethod
    def of(cls, rule: AlertRule) -> AlertRuleEntry:
        """Return the entry for an engine's rule."""
        return cls.model_validate(rule.to_dict())


class NotifierEntry(_Model):
    """A named notifier; its URLs are secrets, so only masked."""

    name: str
    urls: list[str] = Field(description="Every URL masked: scheme://****<last 4>.")


class AlertsOverview(_Model):
    """Every alert's state (firing first, then pending, then the others), the rules, notifiers."""

    firing: int
    pending: int
    statuses: list[AlertStatus]  # the engine's records themselves: one definition of their fields
    rules: list[AlertRuleEntry]
    notifiers: list[NotifierEntry]


class AlertEvents(_Model):
    """The newest alert events first."""

    events: list[AlertEvent]


class SilenceList(_Model):
    """Silences, newest first."""

    silences: list[Silence]


class _LabelMatcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=100, pattern=LABEL_PATTERN,
        description="The label: letters, digits and '_', not a digit first.",
    )  # fmt: skip


class EqualityMatcher(_LabelMatcher):
    """``name = value`` or ``name != value`` (a label an alert lacks is the empty value)."""

    op: Literal["=", "!="]
    value: str = Field(max_length=500)


class RegexMatcher(_LabelMatcher):
    """``name =~ regex`` or ``name !~ regex``: the regular expression matches the whole value."""

    op: Literal["=~", "!~"]
    value: str = Field(max_length=500, json_schema_extra={"format": "regex"})


#: One label matcher, as Alertmanager's silences take them (its isEqual/isRegex as ``op``).
LabelMatcher = Annotated[EqualityMatcher | RegexMatcher, Field(discriminator="op")]


class SilenceRequest(BaseModel):
    """Silence the alerts of a rule on a tool (either may be a glob), and matching labels."""

    model_config = ConfigDict(extra="forbid")

    rule: StoredText = Field("*", min_length=1, max_length=200, description="Rule name or glob.")
    tool: StoredText = Field("*", min_length=1, max_length=200, description="Tool name or glob.")
    matchers: list[LabelMatcher] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Label matchers that must all hold too, such as "
            '{"name": "severity", "op": "=", "value": "critical"}.'
        ),
    )
    duration: str = Field(
        max_length=40,
        pattern=DURATION_PATTERN,
        description="How long: a number and a unit (ms, s, m, h, d, w), such as 2h; at most 366d.",
    )
    comment: SaidText = Field(
        min_length=1, max_length=2000, description="Why; kept with the silence."
    )


class AcknowledgeRequest(BaseModel):
    """Acknowledge the firing alert of a rule on a tool, saying why."""

    model_config = ConfigDict(extra="forbid")

    rule: StoredText = Field(min_length=1, max_length=200)
    tool: StoredText = Field(min_length=1, max_length=200)
    comment: SaidText = Field(
        min_length=1, max_length=2000, description="Why, or what is being done."
    )


class EscalateRequest(BaseModel):
    """Escalate the firing alert of a rule on a tool to its chain's next level now."""

    model_config = ConfigDict(extra="forbid")

    rule: StoredText = Field(min_length=1, max_length=200)
    tool: StoredText = Field(min_length=1, max_length=200)


class NotificationTest(_Model):
    """Whether each notifier delivered the test notification."""

    results: dict[str, bool]
    failed: list[str]


def _field_error(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": kind}])


def _notifiers(engine: AlertEngine) -> list[NotifierEntry]:
    return [
        NotifierEntry(name=name, urls=engine.notifier_urls_masked(name))
        for name in engine.notifier_names()
    ]


@router.get("", response_model=AlertsOverview, summary="Alert states and rules")
def overview(keeper: KeeperDep) -> AlertsOverview:
    """Return every alert's state as the store has it, the rules, and the notifiers (masked)."""
    engine = keeper.alerts
    statuses = engine.statuses()
    return AlertsOverview(
        firing=sum(status.state == "firing" for status in statuses),
        pending=sum(status.state == "pending" for status in statuses),
        statuses=statuses,
        rules=[AlertRuleEntry.of(rule) for rule in engine.rules()],
        notifiers=_notifiers(engine),
    )


@router.get(
    "/events",
    response_model=AlertEvents,
    summary="Recent alert events",
    responses=error_responses(422),
)
def events(
    keeper: KeeperDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")] = 100,
) -> AlertEvents:
    """Return the newest alert events: fired, resolved, notified, silenced, notify_failed."""
    return AlertEvents(events=keeper.alerts.events(limit=limit))


@router.get(
    "/silences", response_model=SilenceList, summary="Silences", responses=error_responses(422)
)
def silences(
    keeper: KeeperDep,
    include_expired: Annotated[
        bool, Query(description="Also list silences that ended or were expired.")
    ] = False,
) -> SilenceList:
    """Return the active silences (with ``include_expired``, every silence)."""
    found = keeper.alerts.silences(include_expired=include_expired)
    return SilenceList(silences=found)


def create_silence(engine: AlertEngine, data: dict[str, Any], *, actor: str) -> Silence:
    """Validate a silence request and create it; field errors raise ``RequestValidationError``."""
    duration = data.get("duration")
    try:  # first, so a bad duration gets the parser's words rather than a regular expression
        seconds = silence_seconds(duration, option="duration") if isinstance(duration, str) else 0
    except ValueError as exc:
        raise _field_error("duration", str(exc)) from None
    try:
        body = SilenceRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
    if not body.comment.strip():
        raise _field_error("comment", "comment must say why, not be blank")
    try:
        matchers = [Matcher(item.name, item.op, item.value) for item in body.matchers]
    except ValueError as exc:  # a regular expression that does not compile
        raise _field_error("matchers", f"matchers: {exc}") from None
    try:
        return engine.silence(
            rule=body.rule.strip(), tool=body.tool.strip(), matchers=matchers,
            duration_s=seconds, created_by=actor, comment=body.comment.strip(),
        )  # fmt: skip
    except ValueError as exc:
        names = ("matchers", "rule", "tool", "comment")
        field = next((name for name in names if str(exc).startswith(name)), "body")
        raise _field_error(field, str(exc)) from None


def expire_silence(engine: AlertEngine, silence_id: int, *, actor: str) -> Silence:
    """End a silence now; an unknown id answers 404 naming it."""
    try:
        return engine.expire_silence(silence_id, by=actor)
    except KeyError:
        raise ApiError(
            404,
            "unknown_silence",
            f"no silence has id {silence_id}",
            details={"silence_id": silence_id},
        ) from None


@router.post(
    "/silences",
    response_model=Silence,
    status_code=201,
    summary="Silence alerts",
    responses=error_responses(400, 403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SilenceRequest.model_json_schema()}},
        }
    },
)
async def silence(request: Request, principal: Operator, keeper: KeeperDep) -> Silence:
    """Silence matching alerts for ``duration``: they show, but send nothing; operators only."""
    data = await read_json_object(request, media_type="application/json")
    return await run_in_threadpool(create_silence, keeper.alerts, data, actor=principal.name)


@router.delete(
    "/silences/{silence_id}",
    response_model=Silence,
    summary="Expire a silence",
    responses=error_responses(403, 404, 422),
)
def expire(
    principal: Operator,
    keeper: KeeperDep,
    silence_id: Annotated[int, Path(ge=1, le=_MAX_ID, description="The silence's id.")],
) -> Silence:
    """End a silence now, as the token's name; operators only."""
    return expire_silence(keeper.alerts, silence_id, actor=principal.name)


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def _act(action: Any, rule: str, tool: str) -> AlertStatus:
    try:
        status: AlertStatus = action()
    except KeyError as exc:
        raise ApiError(
            404, "unknown_alert", str(exc.args[0]), details={"rule": rule, "tool": tool}
        ) from None
    except ValueError as exc:
        raise ApiError(409, "alert_state", str(exc), details={"rule": rule, "tool": tool}) from None
    return status


def acknowledge_alert(engine: AlertEngine, data: dict[str, Any], *, actor: str) -> AlertStatus:
    """Validate an acknowledgement and apply it; 404 for an unknown alert, 409 if not firing."""
    body = _validated(AcknowledgeRequest, data)
    if not body.comment.strip():
        raise _field_error("comment", "comment must say why, not be blank")
    return _act(
        lambda: engine.acknowledge(body.rule, body.tool, by=actor, comment=body.comment),
        body.rule, body.tool,
    )  # fmt: skip


def escalate_alert(engine: AlertEngine, data: dict[str, Any], *, actor: str) -> AlertStatus:
    """Validate an escalation and apply it; 404 for an unknown alert, 409 when it cannot."""
    body = _validated(EscalateRequest, data)
    return _act(lambda: engine.escalate(body.rule, body.tool, by=actor), body.rule, body.tool)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


@router.post(
    "/acknowledge",
    response_model=AlertStatus,
    summary="Acknowledge an alert",
    responses=error_responses(400, 403, 404, 409, 413, 415, 422),
    openapi_extra=_body_schema(AcknowledgeRequest),
)
async def acknowledge(request: Request, principal: Operator, keeper: KeeperDep) -> AlertStatus:
    """Acknowledge a firing alert as the token's name: no more repeats, no escalation."""
    data = await read_json_object(request, media_type="application/json")
    return await run_in_threadpool(acknowledge_alert, keeper.alerts, data, actor=principal.name)


@router.post(
    "/escalate",
    response_model=AlertStatus,
    summary="Escalate an alert",
    responses=error_responses(400, 403, 404, 409, 413, 415, 422),
    openapi_extra=_body_schema(EscalateRequest),
)
async def escalate(request: Request, principal: Operator, keeper: KeeperDep) -> AlertStatus:
    """Notify the next level of a firing alert's escalation now, as the token's name."""
    data = await read_json_object(request, media_type="application/json")
    return await run_in_threadpool(escalate_alert, keeper.alerts, data, actor=principal.name)


@router.post(
    "/test",
    response_model=NotificationTest,
    summary="Send a test notification",
    responses=error_responses(403, 404, 422),
)
def send_test_notification(
    principal: Admin,
    keeper: KeeperDep,
    notifier: Annotated[
        str | None, Query(max_length=200, description="One notifier (default: every one).")
    ] = None,
) -> NotificationTest:
    """Send a test notification through one notifier or all; admins only."""
    del principal  # the role is the check
    engine = keeper.alerts
    known = engine.notifier_names()
    if notifier is not None and notifier not in known:
        raise ApiError(
            404,
            "unknown_notifier",
            f"no notifier is named {notifier!r}",
            details={"notifier": notifier, "known_notifiers": known},
        )
    results = engine.test_notification(notifier) if known else {}
    return NotificationTest(
        results=results, failed=sorted(name for name, ok in results.items() if not ok)
    )
