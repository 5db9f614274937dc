"""Entitlements: what a workspace's tier (or an admin's override) allows, what it has used, and
the 403 when an action would pass the limit (issue 5).

This domain imports no other: counted features get their live number from the domain that owns
the things counted (`require(..., current=n)`, and `register_counter` for the summary)."""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ..core.clock import utcnow
from ..core.errors import ApiError, validation_failed
from ..core.events import record_event
from ..core.ids import new_id
from ..extensions import db
from . import plans
from .models import EntitlementOverride, UsageCounter, UsageNotice, UsageRecord

NEVER_RESET = date(1970, 1, 1)  # the one "day" of a feature that never resets (storage)
THRESHOLDS = ((100, "entitlement.limit_reached"), (80, "entitlement.threshold_reached"))
EVENT_TYPES = tuple(event for _, event in THRESHOLDS)


# --- limits and periods ----------------------------------------------------------------------


def limit_of(workspace_id: str, tier: str, feature: str) -> int | None:
    override = db.session.get(EntitlementOverride, (workspace_id, feature))
    if override is not None:
        return override.limit
    return plans.PLANS[tier][feature]


def set_override(workspace_id: str, feature: str, limit: int | None) -> None:
    """A platform admin's limit for one workspace (None: unlimited)."""
    row = db.session.get(EntitlementOverride, (workspace_id, feature))
    if row is None:
        db.session.add(EntitlementOverride(workspace_id=workspace_id, feature=feature, limit=limit))
    else:
        row.limit = limit
    db.session.commit()


def clear_override(workspace_id: str, feature: str) -> bool:
    deleted = db.session.execute(
        sa.delete(EntitlementOverride).where(
            EntitlementOverride.workspace_id == workspace_id, EntitlementOverride.feature == feature
        )
    )
    db.session.commit()
    return bool(deleted.rowcount)  # type: ignore[attr-defined]


def register_period_anchor(app: Flask, anchor: Callable[[str], date | None]) -> None:
    """Billing says on which day a subscribed workspace's monthly periods start (None: it has
    no subscription)."""
    app.extensions["entitlements.period_anchor"] = anchor


def period(workspace_id: str, now: datetime | None = None) -> tuple[date, date]:
    """The workspace's current monthly period [start, next start), in whole UTC days: months from
    its subscription's billing day (the 31st is the month's last day in shorter months, as Stripe
    does), otherwise calendar months."""
    today = (now or utcnow()).date()
    anchor_of = current_app.extensions.get("entitlements.period_anchor")
    anchor = anchor_of(workspace_id) if anchor_of else None
    day = anchor.day if anchor else 1

    def start_in(year: int, month: int) -> date:
        return date(year, month, min(day, calendar.monthrange(year, month)[1]))

    start = start_in(today.year, today.month)
    if start > today:
        start = start_in(*_month_after(today.year, today.month, -1))
    return start, start_in(*_month_after(start.year, start.month, 1))


def _month_after(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


# --- usage -----------------------------------------------------------------------------------

Counter = Callable[[str], int]


def register_counter(app: Flask, feature: str, count: Counter) -> None:
    """The owner of a counted feature says how to count it (for the summary and the check)."""
    app.extensions.setdefault("entitlements.counters", {})[feature] = count


def per_day(workspace_id: str, feature: str, start: date, end: date) -> dict[date, int]:
    """The feature's counter of each day of [start, end) that has one."""
    rows = db.session.execute(
        sa.select(UsageCounter.day, UsageCounter.used).where(
            UsageCounter.workspace_id == workspace_id,
            UsageCounter.feature == feature,
            UsageCounter.day >= start,
            UsageCounter.day < end,
        )
    )
    return {row.day: row.used for row in rows}


def used_directly(workspace_id: str, feature: str) -> int:
    """The period's recorded usage of a metered feature, without what metering buffers."""
    if feature in plans.NOT_RESET:
        where = UsageCounter.day == NEVER_RESET
    else:
        start, end = period(workspace_id)
        where = sa.and_(UsageCounter.day >= start, UsageCounter.day < end)
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(UsageCounter.used), 0)).where(
            UsageCounter.workspace_id == workspace_id, UsageCounter.feature == feature, where
        )
    )
    return int(total or 0)


def _metered(workspace_id: str, feature: str) -> int:
    buffered = current_app.extensions.get("entitlements.buffered")
    return used_directly(workspace_id, feature) + (buffered(workspace_id, feature) if buffered else 0)


def used(workspace_id: str, feature: str) -> int:
    if feature in plans.COUNTED:
        count = current_app.extensions.get("entitlements.counters", {}).get(feature)
        return count(workspace_id) if count else 0
    if feature in plans.CAPS:
        return 0
    return _metered(workspace_id, feature)


def _upgrade_url() -> str:
    base = request.host_url.rstrip("/") if has_request_context() else ""
    return current_app.config.get("UPGRADE_URL") or base + "/billing"


def _unknown(feature: str) -> ApiError:
    return validation_failed({"feature": [f"Unknown feature '{feature}'. Features: {', '.join(plans.FEATURES)}."]})


def check(workspace_id: str, tier: str, feature: str, quantity: int = 1, current: int | None = None) -> dict:
    """Would `quantity` more fit? The seed's bare answer."""
    if feature not in plans.FEATURES:
        raise _unknown(feature)
    limit = limit_of(workspace_id, tier, feature)
    usage = current if current is not None else used(workspace_id, feature)
    reason, message = "LIMIT_EXCEEDED", f"{plans.label(feature)} limit exceeded. Used: {usage}, Limit: {limit}"
    if feature in plans.CAPS:
        allowed = limit is None or quantity <= limit
    elif feature in plans.METERED and plans.OVERAGE[tier]:
        # past the limit is overage, billed at its price, up to the workspace's budget cap
        cap, cost = _budget_cap(workspace_id), None
        if cap is not None and limit is not None and usage + quantity > limit:
            cost = overage_cost(workspace_id, tier, {feature: usage + quantity})
        allowed = cost is None or (cap is not None and cost <= cap)
        reason, message = (
            "BUDGET_CAP",
            f"This would take overage spending to €{cost} this period, past the budget cap of €{cap}.",
        )
    else:
        allowed = limit is None or usage + quantity <= limit
    answer: dict = {
        "allowed": allowed,
        "feature": feature,
        "current_usage": usage,
        "limit": limit,
        "available": None if limit is None else max(0, limit - usage),
    }
    if not allowed:
        answer.update(reason=reason, message=message, upgrade_url=_upgrade_url())
    return answer


def register_budget(app: Flask, cap: Callable[[str], Decimal | None]) -> None:
    """Billing says what a workspace's budget cap on overage spending is (EUR; None: no cap)."""
    app.extensions["entitlements.budget_cap"] = cap


def _budget_cap(workspace_id: str) -> Decimal | None:
    cap = current_app.extensions.get("entitlements.budget_cap")
    return cap(workspace_id) if cap else None


def overage_cost(workspace_id: str, tier: str, planned: dict[str, int] | None = None) -> Decimal:
    """The period's overage spending (EUR) at OVERAGE_PRICES_EUR; `planned` replaces the usage of
    some features (what they would be after an action)."""
    cost = Decimal(0)
    for feature, price in current_app.config["OVERAGE_PRICES_EUR"].items():
        limit = limit_of(workspace_id, tier, feature)
        if limit is None:
            continue
        usage = (planned or {}).get(feature)
        usage = used(workspace_id, feature) if usage is None else usage
        cost += max(0, usage - limit) * price
    return cost.quantize(Decimal("0.01"))


def limit_reached(answer: dict) -> ApiError:
    return ApiError(
        403,
        "feature_limit_reached",
        answer["message"],
        reason=answer["reason"],
        feature=answer["feature"],
        limit=answer["limit"],
        current_usage=answer["current_usage"],
        upgrade_url=answer["upgrade_url"],
    )


def require(workspace_id: str, tier: str, feature: str, current: Callable[[], int], quantity: int = 1) -> None:
    """Before creating a counted thing (`current()` counts those there now): 403 past the limit,
    and the threshold events when this one crosses 80% or 100%. Concurrent creators take turns
    (until commit), so two of them never both take the last place."""
    _serialize(workspace_id, feature)
    count = current()
    answer = check(workspace_id, tier, feature, quantity, current=count)
    if not answer["allowed"]:
        raise limit_reached(answer)
    _notice_thresholds(workspace_id, feature, count, count + quantity, answer["limit"])


def notice_crossing(workspace_id: str, feature: str, before: int, after: int, limit: int | None) -> None:
    """Metering crossed a threshold outside any change of the request: record it on its own."""
    _notice_thresholds(workspace_id, feature, before, after, limit)
    db.session.commit()


def _notice_thresholds(workspace_id: str, feature: str, before: int, after: int, limit: int | None) -> None:
    """Record each threshold this change crosses, once per period (in the caller's transaction)."""
    if not limit:
        return
    start = NEVER_RESET if feature in plans.NOT_RESET else period(workspace_id)[0]
    for level, event in THRESHOLDS:
        mark = limit * level / 100
        if before < mark <= after:
            try:
                with db.session.begin_nested():
                    db.session.add(
                        UsageNotice(workspace_id=workspace_id, feature=feature, period_start=start, level=level)
                    )
            except IntegrityError:
                continue  # recorded already this period
            record_event(
                workspace_id,
                event,
                {
                    "feature": feature,
                    "threshold": level,
                    "used": after,
                    "limit": limit,
                    "period_start": start.isoformat(),
                },
            )


@functools.cache
def _upsert_statement(dialect: str, keep_greater: bool, along_with: sa.Insert | None = None, along_keys: tuple = ()):
    """INSERT … ON CONFLICT of a day's counter, built once: building it on every call (a tool call,
    a pixel batch) cost more than running it. `along_with` (PostgreSQL): another INSERT of a row
    with `along_keys`, written by the same statement."""
    postgres = dialect == "postgresql"
    insert = (postgresql if postgres else sqlite).insert(UsageCounter)
    old, new = UsageCounter.used, insert.excluded.used
    if keep_greater:
        used = sa.func.greatest(old, new) if postgres else sa.func.max(old, new)
    else:
        used = old + new
    upsert = insert.on_conflict_do_update(index_elements=["workspace_id", "feature", "day"], set_={"used": used})
    if along_with is not None:
        row = along_with.values({key: sa.bindparam(f"along_{key}") for key in along_keys})
        upsert = upsert.add_cte(row.cte("along_with"))
    return upsert


def _upsert(
    workspace_id: str,
    feature: str,
    day: date,
    quantity: int,
    keep_greater: bool = False,
    along_with: tuple[sa.Insert, dict] | None = None,
) -> None:
    params = {"workspace_id": workspace_id, "feature": feature, "day": day, "used": quantity}
    connection = db.session.connection()
    dialect = connection.dialect.name
    if along_with is not None and dialect == "postgresql":  # one round trip for both rows
        insert, row = along_with
        stmt = _upsert_statement(dialect, keep_greater, insert, tuple(row))
        connection.execute(stmt, params | {f"along_{key}": value for key, value in row.items()})
        return
    if along_with is not None:
        connection.execute(*along_with)
    connection.execute(_upsert_statement(dialect, keep_greater), params)


def add_usage(
    workspace_id: str,
    feature: str,
    quantity: int,
    day: date | None = None,
    *,
    along_with: tuple[sa.Insert, dict] | None = None,
) -> None:
    """used += quantity on the day's counter, atomically (an upsert), in the caller's transaction.
    `along_with`, an INSERT and its row (the record the usage is of), is written with it: by the
    same statement on PostgreSQL, so the pair costs one round trip."""
    day = NEVER_RESET if feature in plans.NOT_RESET else (day or utcnow().date())
    _upsert(workspace_id, feature, day, quantity, along_with=along_with)


def count_on_day(workspace_id: str, feature: str, day: date) -> int:
    """One more on the day's counter, committed at once; returns the day's count."""
    add_usage(workspace_id, feature, 1, day)
    count = db.session.scalar(
        sa.select(UsageCounter.used).where(
            UsageCounter.workspace_id == workspace_id, UsageCounter.feature == feature, UsageCounter.day == day
        )
    )
    db.session.commit()
    return int(count or 0)


def uncount_on_day(workspace_id: str, feature: str, day: date) -> None:
    """Take back one count_on_day (a refused request), committed at once."""
    add_usage(workspace_id, feature, -1, day)
    db.session.commit()


def set_at_least(workspace_id: str, feature: str, day: date, value: int) -> None:
    """used = max(used, value): copying a running total is idempotent."""
    _upsert(workspace_id, feature, day, value, keep_greater=True)


def _serialize(workspace_id: str, feature: str) -> None:
    """One writer at a time per (workspace, feature) until commit: check-then-add stays exact."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"usage:{workspace_id}:{feature}")))
        )


def record_usage(
    workspace_id: str, tier: str, feature: str, quantity: int, metadata: dict | None, idempotency_key: str | None
) -> dict:
    """POST /entitlements/usage: count `quantity` (once per idempotency key) or 403 past the limit."""
    if feature not in plans.METERED:
        raise validation_failed({"feature": [f"Only metered features record usage: {', '.join(plans.METERED)}."]})
    _serialize(workspace_id, feature)
    if idempotency_key:
        first = db.session.scalar(
            sa.select(UsageRecord.answer).where(
                UsageRecord.workspace_id == workspace_id, UsageRecord.idempotency_key == idempotency_key
            )
        )
        if first is not None:
            db.session.rollback()
            return first
    answer = check(workspace_id, tier, feature, quantity)
    if not answer["allowed"]:
        db.session.rollback()
        raise limit_reached(answer)
    before = answer["current_usage"]
    add_usage(workspace_id, feature, quantity)
    result = {"recorded": True, "feature": feature, "current_usage": before + quantity, "limit": answer["limit"]}
    if not _record_once(workspace_id, feature, quantity, idempotency_key, metadata, result):
        db.session.rollback()  # the same key, committed by another process meanwhile (SQLite)
        return record_usage(workspace_id, tier, feature, quantity, metadata, idempotency_key)
    _notice_thresholds(workspace_id, feature, before, before + quantity, answer["limit"])
    db.session.commit()
    return result


def _record_once(
    workspace_id: str, feature: str, quantity: int, key: str | None, metadata: dict | None, answer: dict
) -> bool:
    """The durable record of one use (in a savepoint); False when `key` was recorded already."""
    try:
        with db.session.begin_nested():
            db.session.add(
                UsageRecord(
                    id=new_id("usg"),
                    workspace_id=workspace_id,
                    feature=feature,
                    quantity=quantity,
                    idempotency_key=key,
                    meta=metadata,
                    answer=answer,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        return False
    return True


def charge(workspace_id: str, tier: str, feature: str, quantity: int, key: str, metadata: dict | None = None) -> bool:
    """Record usage that has already happened (an AI answer), once per `key`, whatever the limit:
    limits are checked before such work, which may overrun them by one piece. In the caller's
    transaction; False when `key` was charged already."""
    _serialize(workspace_id, feature)
    before = used(workspace_id, feature)
    answer = {"recorded": True, "feature": feature, "quantity": quantity}
    if not _record_once(workspace_id, feature, quantity, key, metadata, answer):
        return False
    add_usage(workspace_id, feature, quantity)
    _notice_thresholds(workspace_id, feature, before, before + quantity, limit_of(workspace_id, tier, feature))
    return True


def summary(workspace_id: str, tier: str) -> dict:
    _, reset_at = period(workspace_id)
    entitlements = {}
    for feature in plans.FEATURES:
        limit = limit_of(workspace_id, tier, feature)
        usage = used(workspace_id, feature)
        item: dict = {
            "used": usage,
            "limit": limit,
            "available": None if limit is None else max(0, limit - usage),
            "percentage": None if not limit else round(usage * 100 / limit, 2),
        }
        if feature in plans.METERED and feature not in plans.NOT_RESET:
            item["reset_at"] = datetime(reset_at.year, reset_at.month, reset_at.day, tzinfo=utcnow().tzinfo)
        if feature in plans.UNITS:
            item["unit"] = plans.UNITS[feature]
        entitlements[feature] = item
    return {"workspace_id": workspace_id, "tier": tier, "entitlements": entitlements}
