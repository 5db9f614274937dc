"""A raw Lighthouse result (LHR) → the scores and issues of a report.

Scores: each category's `score` (0–1) × 100, rounded to one decimal; null when Lighthouse could
not score it. Issues: one per failing audit — `score` below 1 and not null — except audits whose
`scoreDisplayMode` is notApplicable, manual, informative or error (they pass or fail nothing).
The audit id is the `issue_type`; `element` is none (an audit is one issue of the page; the
offending nodes' selectors are in `details.selectors`).

Severity, from the audit's score and its weight in the categories:
- `error`: score below 0.5 (Lighthouse's red) in an audit that weighs in a category score;
- `warning`: score below 0.5 in an audit of weight 0, or a score from 0.5 to below 0.9 (orange);
- `info`: a score of 0.9 or more that is still not 1 (green, with room left).
"""

from __future__ import annotations

from typing import Any, TypeGuard

CATEGORY_KEYS = {
    "performance": "performance",
    "accessibility": "accessibility",
    "best-practices": "best_practices",
    "seo": "seo",
}
SKIPPED_MODES = frozenset({"notApplicable", "manual", "informative", "error"})
MAX_SELECTORS = 20


class LighthouseError(ValueError):
    """The payload is not a Lighthouse result this parser can read: the report fails with it."""


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def scores(lhr: dict) -> dict[str, float | None]:
    categories = lhr.get("categories")
    if not isinstance(categories, dict):
        raise LighthouseError("The Lighthouse result has no 'categories' object.")
    found: dict[str, float | None] = {}
    for key, name in CATEGORY_KEYS.items():
        category = categories.get(key)
        if category is None:
            continue
        score = category.get("score") if isinstance(category, dict) else "?"
        if score is None:
            found[name] = None
        elif _number(score) and 0 <= score <= 1:
            found[name] = round(score * 100, 1)
        else:
            raise LighthouseError(f"Category '{key}' has a score that is not a number from 0 to 1.")
    if not found:
        raise LighthouseError("The Lighthouse result scores none of performance, accessibility, best-practices, seo.")
    return found


def _weights(lhr: dict) -> dict[str, float]:
    weights: dict[str, float] = {}
    for category in lhr["categories"].values():
        for ref in (category or {}).get("auditRefs") or []:
            if isinstance(ref, dict) and isinstance(ref.get("id"), str) and _number(ref.get("weight")):
                weights[ref["id"]] = max(weights.get(ref["id"], 0), ref["weight"])
    return weights


def severity(score: float, weight: float) -> str:
    if score < 0.5:
        return "error" if weight > 0 else "warning"
    return "warning" if score < 0.9 else "info"


def _selectors(audit: dict) -> list[str]:
    items = (audit.get("details") or {}).get("items") if isinstance(audit.get("details"), dict) else None
    selectors = []
    for item in items if isinstance(items, list) else []:
        node = item.get("node") if isinstance(item, dict) else None
        if isinstance(node, dict) and isinstance(node.get("selector"), str):
            selectors.append(node["selector"][:500])
        if len(selectors) == MAX_SELECTORS:
            break
    return selectors


def issues(lhr: dict) -> list[dict]:
    audits = lhr.get("audits")
    if not isinstance(audits, dict):
        raise LighthouseError("The Lighthouse result has no 'audits' object.")
    weights = _weights(lhr)
    found = []
    for audit_id, audit in audits.items():
        if not isinstance(audit, dict):
            raise LighthouseError(f"Audit '{audit_id}' is not an object.")
        score = audit.get("score")
        if audit.get("scoreDisplayMode") in SKIPPED_MODES or score is None:
            continue
        if not _number(score) or not 0 <= score <= 1:
            raise LighthouseError(f"Audit '{audit_id}' has a score that is not a number from 0 to 1.")
        if score >= 1:
            continue
        details: dict[str, Any] = {"score": score, "weight": weights.get(audit_id, 0)}
        if isinstance(audit.get("displayValue"), str):
            details["display_value"] = audit["displayValue"][:500]
        selectors = _selectors(audit)
        if selectors:
            details["selectors"] = selectors
        title = audit.get("title")
        found.append(
            {
                "type": str(audit_id)[:100],
                "severity": severity(score, weights.get(audit_id, 0)),
                "element": None,
                "message": title[:2000] if isinstance(title, str) else None,
                "details": details,
            }
        )
    return found


def parse(lhr: Any) -> tuple[dict[str, float | None], list[dict]]:
    if not isinstance(lhr, dict):
        raise LighthouseError("The Lighthouse result must be an object.")
    return scores(lhr), issues(lhr)
