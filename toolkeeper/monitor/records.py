"""Describe one operation: its status, its full record, and the compact tuple the hot path queues.

The hot path does not build a :class:`WrapperOperationMetrics` per call: it appends
a plain tuple (a *raw record*, laid out by the index constants below; built and
queued only by :class:`toolkeeper.monitor.recorder.Recorder`) and the record object
is built only when someone needs it (an export, the sink).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypedDict

from toolkeeper.monitor import ids

__all__ = ["OperationDetails", "OperationStatus", "TokenKindDetails", "WrapperOperationMetrics"]


class OperationStatus(StrEnum):
    """Name where an operation stands; every status but ``started`` is final.

    ``fallback`` means a fallback served the call after the primary failed or was
    skipped; ``timeout`` and ``error`` are failures; ``cancelled`` is neither.
    """

    STARTED = "started"
    SUCCESS = "success"
    ERROR = "error"
    FALLBACK = "fallback"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(s for s in OperationStatus if s is not OperationStatus.STARTED)
# Raw records carry statuses as plain ``str``: a tuple of plain atoms is untracked by
# the garbage collector after its first pass, while an enum member keeps it tracked
# (measured: about 150 ns per record of collector time at high rates).
PLAIN_STATUS: dict[str, str] = {str(s): str(s.value) for s in FINAL_STATUSES}
FAILURE_STATUSES = frozenset({OperationStatus.ERROR, OperationStatus.TIMEOUT})


@dataclass(slots=True, kw_only=True)
class WrapperOperationMetrics:
    """Record one call to an external tool, from start to end.

    Times are timezone-aware UTC; durations are milliseconds; ``cost_estimate`` is
    US dollars. ``input_tokens`` is every input token, of which ``cached_tokens``
    were read from the provider's cache and ``cache_write_tokens`` written to it;
    ``output_tokens`` is every output token, of which ``reasoning_tokens`` were
    reasoning (see :class:`toolkeeper.costs.usage.Usage`). ``original_error`` keeps
    the primary's error when a fallback served the call. ``unpriced`` says the model
    that served it has no price: its cost is unknown, not zero. Not thread-safe: one
    operation belongs to one caller until it ends.
    """

    operation_id: str
    wrapper_name: str
    operation_type: str = "default"
    start_time: datetime
    end_time: datetime | None = None
    duration_ms: float | None = None
    status: OperationStatus = OperationStatus.STARTED
    error_message: str | None = None
    error_code: str | None = None
    fallback_used: bool = False
    fallback_reason: str | None = None
    fallback_name: str | None = None
    fallback_duration_ms: float | None = None
    original_error: str | None = None
    cost_estimate: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    unpriced: bool = False
    quality_score: float | None = None
    user_id: str | None = None
    session_id: str | None = None
    request_id: str | None = None
    parent_id: str | None = None
    custom_metrics: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # Added last, so the CSV columns of earlier exports keep their places.
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain data: times as ISO 8601 strings, status as its value."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["start_time"] = self.start_time.isoformat()
        data["end_time"] = self.end_time.isoformat() if self.end_time else None
        data["status"] = self.status.value
        data["custom_metrics"] = dict(self.custom_metrics)
        data["labels"] = dict(self.labels)
        return data


class TokenKindDetails(TypedDict, total=False):
    """List the token kinds a record keeps beside its input and output tokens, as details.

    Present only when one is not zero: a plain call pays nothing for them.
    """

    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


class OperationDetails(TokenKindDetails, total=False):
    """List the optional record fields that ``record()`` takes as keywords; aggregates skip them."""

    error_code: str | None
    fallback_name: str | None
    fallback_reason: str | None
    fallback_duration_ms: float | None
    original_error: str | None
    quality_score: float | None
    user_id: str | None
    session_id: str | None
    request_id: str | None
    parent_id: str | None
    operation_id: str | None
    labels: dict[str, str] | None
    unpriced: bool | None


_DETAIL_NAMES = frozenset(OperationDetails.__annotations__)
_STATUS_BY_VALUE = {status.value: status for status in OperationStatus}

# Layout of a raw record: thirteen fields, built in one BUILD_TUPLE by the hot path.
# Kept short and free of enum members on purpose: the garbage collector scans every
# new tuple once and untracks it when it holds only atoms, and that scan costs in
# proportion to the tuple's length (measured: 23 fields cost twice what 12 do).
SEQ = 0  # int from ids.next_seq, unique in the process; names the operation (see ids)
END_TS = 1  # float, epoch seconds (UTC) when the operation finished
TOOL = 2
OPERATION = 3
STATUS = 4  # the plain str value of a final OperationStatus
DURATION_S = 5  # float seconds
COST = 6  # float USD
INPUT_TOKENS = 7
OUTPUT_TOKENS = 8
CUSTOM = 9  # dict[str, Any] | None
ERROR_MESSAGE = 10
DETAILS = 11  # OperationDetails | None, or the full record the lifecycle API built
MODEL = 12  # str | None: the model that served the call, kept out of a labels dict

RawRecord = tuple[Any, ...]
"""A raw record. An *unread* record has the same layout, but its COST holds the
response still to read and price, and its MODEL what the pipeline's reader needs to
read it (the tool's runtime). It waits in the pipeline's ``unread`` queue, never in
``pending``: the reader replaces it by a raw record before anything folds it."""

#: (cached, cache write, reasoning) tokens: the parts of a record's input and output
#: tokens that are billed apart. Kept in a raw record's DETAILS, not in its tuple.
TokenKinds = tuple[int, int, int]
NO_TOKEN_KINDS: TokenKinds = (0, 0, 0)


def token_kinds(details: object) -> TokenKinds:
    """Return the (cached, cache write, reasoning) tokens a raw record's DETAILS hold."""
    if details is None:
        return NO_TOKEN_KINDS
    if isinstance(details, WrapperOperationMetrics):
        return details.cached_tokens, details.cache_write_tokens, details.reasoning_tokens
    get = details.get  # type: ignore[attr-defined]
    return get("cached_tokens") or 0, get("cache_write_tokens") or 0, get("reasoning_tokens") or 0


def kind_details(kinds: TokenKinds | None) -> TokenKindDetails:
    """Return the record details that carry ``kinds`` (none when there are none)."""
    if kinds is None:
        return {}
    cached, written, reasoning = kinds
    return {"cached_tokens": cached, "cache_write_tokens": written, "reasoning_tokens": reasoning}


def raw_from_record(seq: int, record: WrapperOperationMetrics) -> RawRecord:
    """Return the raw tuple for a finished record built by the lifecycle API."""
    assert record.end_time is not None
    return (
        seq,
        record.end_time.timestamp(),
        record.wrapper_name,
        record.operation_type,
        PLAIN_STATUS[record.status],
        (record.duration_ms or 0.0) / 1000.0,
        record.cost_estimate,
        record.input_tokens,
        record.output_tokens,
        record.custom_metrics or None,
        record.error_message,
        record,
        None,
    )


def start_ts(raw: RawRecord) -> float:
    """Return when a raw record's operation started, in epoch seconds."""
    details = raw[DETAILS]
    if isinstance(details, WrapperOperationMetrics):
        return details.start_time.timestamp()
    end: float = raw[END_TS]
    duration: float = raw[DURATION_S]
    return end - duration


def materialize(raw: RawRecord) -> WrapperOperationMetrics:
    """Return the full record for a raw tuple; its id derives from its sequence number.

    Costs 1-2 us a record, so the hot path never calls it: exports and the sink do.
    The custom-metrics and labels dicts are the caller's, not copies.
    """
    details = raw[DETAILS]
    if isinstance(details, WrapperOperationMetrics):
        return details
    end = raw[END_TS]
    duration = raw[DURATION_S]
    status = _STATUS_BY_VALUE[raw[STATUS]]
    record = WrapperOperationMetrics(
        operation_id=ids.operation_id(raw[SEQ]),
        wrapper_name=raw[TOOL],
        operation_type=raw[OPERATION],
        start_time=datetime.fromtimestamp(end - duration, UTC),
        end_time=datetime.fromtimestamp(end, UTC),
        duration_ms=duration * 1000.0,
        status=status,
        error_message=raw[ERROR_MESSAGE],
        fallback_used=status is OperationStatus.FALLBACK,
        cost_estimate=raw[COST],
        input_tokens=raw[INPUT_TOKENS],
        output_tokens=raw[OUTPUT_TOKENS],
        custom_metrics=raw[CUSTOM] or {},
    )
    if details:
        for name, value in details.items():
            if value is not None and name in _DETAIL_NAMES:
                setattr(record, name, value)
        record.fallback_used = record.fallback_used or record.fallback_name is not None
    model = raw[MODEL]
    if model is not None:
        record.labels = {**record.labels, "model": model}
    return record
