import json
from pathlib import Path

REPORT = "/api/v1/seo/report"
REPORTS = "/api/v1/seo/reports"
ISSUES = "/api/v1/seo/issues"
URL = "https://example.com/page"
FIXTURE = Path(__file__).parent / "fixtures" / "lighthouse-12.2.1.json"


def lighthouse_result() -> dict:
    return json.loads(FIXTURE.read_text())


def body(url=URL, scores=None, issues=None) -> dict:
    """The seed's body."""
    return {
        "url": url,
        "scores": scores or {"performance": 85, "accessibility": 92, "best_practices": 88, "seo": 95},
        "issues": [{"type": "missing_alt", "severity": "warning", "element": "img.hero-image"}]
        if issues is None
        else issues,
    }
