"""A real Lighthouse result (tests/seo/fixtures, see its README) parsed, as a unit and through the
pipeline; a malformed one fails the report with an error."""

from __future__ import annotations

import pytest

from app.seo import lighthouse
from tests.webhooks import run_jobs

from . import ISSUES, REPORT, REPORTS, URL, lighthouse_result

FAILING = {
    # audit id → severity (score 0; weight in a category > 0 → error, weight 0 → warning)
    "color-contrast": "error",
    "document-title": "error",
    "html-has-lang": "error",
    "image-alt": "error",
    "label": "error",
    "link-name": "error",
    "meta-description": "error",
    "font-size": "error",
    "doctype": "error",
    "charset": "error",
    "errors-in-console": "error",
    "viewport": "error",
    "uses-long-cache-ttl": "warning",  # score 0.5, weight 0 in every category
}


def test_the_fixture_parses_into_scores_and_failing_audits():
    scores, issues = lighthouse.parse(lighthouse_result())
    assert scores == {"performance": 100, "accessibility": 32, "best_practices": 82, "seo": 73}
    by_type = {i["type"]: i for i in issues}
    assert {t: i["severity"] for t, i in by_type.items()} == FAILING
    alt = by_type["image-alt"]
    assert alt["message"] == "Image elements do not have `[alt]` attributes" and alt["element"] is None
    assert alt["details"]["score"] == 0 and alt["details"]["weight"] == 10
    assert alt["details"]["selectors"] == ["body > img.hero-image"]
    assert "uses-long-cache-ttl" in by_type and by_type["uses-long-cache-ttl"]["details"]["display_value"]


@pytest.mark.parametrize(
    ("score", "weight", "severity"),
    [(0, 10, "error"), (0.49, 1, "error"), (0.49, 0, "warning"), (0.5, 10, "warning"), (0.89, 3, "warning"),
     (0.9, 10, "info"), (0.99, 0, "info")],
)  # fmt: skip
def test_severity_mapping(score, weight, severity):
    assert lighthouse.severity(score, weight) == severity


def test_skipped_modes_null_scores_and_passing_audits_are_no_issues():
    lhr = {
        "categories": {"seo": {"score": None, "auditRefs": [{"id": "a", "weight": 1}]}},
        "audits": {
            "a": {"score": 0, "scoreDisplayMode": "binary", "title": "A"},
            "na": {"score": 0, "scoreDisplayMode": "notApplicable"},
            "manual": {"score": 0, "scoreDisplayMode": "manual"},
            "info": {"score": 0.2, "scoreDisplayMode": "informative"},
            "null": {"score": None, "scoreDisplayMode": "numeric"},
            "pass": {"score": 1, "scoreDisplayMode": "binary"},
        },
    }
    scores, issues = lighthouse.parse(lhr)
    assert scores == {"seo": None}
    assert [(i["type"], i["severity"]) for i in issues] == [("a", "error")]


@pytest.mark.parametrize(
    ("lhr", "error"),
    [
        ({"audits": {}}, "The Lighthouse result has no 'categories' object."),
        ({"categories": {"seo": {"score": 1.5}}, "audits": {}}, "Category 'seo' has a score that is not a number from 0 to 1."),
        ({"categories": {"seo": {"score": "1"}}, "audits": {}}, "Category 'seo' has a score that is not a number from 0 to 1."),
        ({"categories": {"pwa": {"score": 1}}, "audits": {}}, "The Lighthouse result scores none of performance, accessibility, best-practices, seo."),
        ({"categories": {"seo": {"score": 1}}}, "The Lighthouse result has no 'audits' object."),
        ({"categories": {"seo": {"score": 1}}, "audits": {"x": {"score": -1}}}, "Audit 'x' has a score that is not a number from 0 to 1."),
        ({"categories": {"seo": {"score": 1}}, "audits": {"x": []}}, "Audit 'x' is not an object."),
    ],
)  # fmt: skip
def test_malformed_results_are_refused_with_a_reason(lhr, error):
    with pytest.raises(lighthouse.LighthouseError) as raised:
        lighthouse.parse(lhr)
    assert str(raised.value) == error


def test_a_lighthouse_report_through_the_pipeline(client, owner):
    response = client.post(REPORT, json={"url": URL, "lighthouse": lighthouse_result()}, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["data"]["source"] == "lighthouse" and response.json["data"]["status"] == "queued"
    run_jobs()
    report = client.get(f"{REPORTS}/{response.json['data']['id']}", headers=owner.headers).json["data"]
    assert report["status"] == "processed"
    assert report["scores"] == {"performance": 100, "accessibility": 32, "best_practices": 82, "seo": 73}
    assert report["issue_count"] == report["new_issues"] == len(FAILING)
    listed = client.get(
        f"{ISSUES}/{owner.workspace_id}", query_string={"issue_type": "image-alt"}, headers=owner.headers
    ).json["data"]
    assert [(i["severity"], i["details"]["selectors"]) for i in listed] == [("error", ["body > img.hero-image"])]


def test_a_malformed_lighthouse_result_fails_the_report_with_its_error(client, owner):
    response = client.post(
        REPORT,
        json={"url": URL, "lighthouse": {"categories": {"seo": {"score": 2}}, "audits": {}}},
        headers=owner.headers,
    )
    assert response.status_code == 201
    run_jobs()
    report = client.get(f"{REPORTS}/{response.json['data']['id']}", headers=owner.headers).json["data"]
    assert report["status"] == "failed"
    assert report["error"] == "Category 'seo' has a score that is not a number from 0 to 1."
    assert report["scores"] is None and report["issue_count"] is None
    assert client.get(f"{ISSUES}/{owner.workspace_id}", headers=owner.headers).json["data"] == []
