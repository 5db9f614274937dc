"""Pixel sites, as the API manages them, and what a page's tracking request is checked against
(issue 6). Accepted events go to the buffer (buffer.py); tasks.py ingests them."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..core import ratelimit
from ..core.errors import conflict, not_found, validation_failed
from ..core.ids import new_id
from ..entitlements import service as entitlements
from ..extensions import db
from ..workspaces import service as workspaces
from . import buffer
from .models import PixelSite

DEFAULT_FEATURES = {"pageviews": True, "events": True, "sessions": True}
DISABLED = {"enabled": False, "features": {"pageviews": False, "events": False, "sessions": False}, "sample_rate": 0.0}
# Which requests are bots: crawlers, monitors, HTTP libraries and headless browsers.
BOTS = re.compile(
    r"bot|crawl|spider|slurp|archiver|facebookexternalhit|headless|lighthouse|pingdom|monitor|curl|wget|"
    r"python-|httpx|go-http|java/|okhttp|node-fetch|axios|phantomjs|selenium|puppeteer|playwright",
    re.IGNORECASE,
)
CACHE_SECONDS = 10.0  # how long a web process uses what it read of a site (and its workspace's limit)


# --- sites -----------------------------------------------------------------------------------


def sites_query(workspace_id: str):
    return sa.select(PixelSite).where(PixelSite.workspace_id == workspace_id)


def site_count(workspace_id: str) -> int:
    """The `pixel_sites` entitlement: sites of the workspace."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(sites_query(workspace_id).subquery())) or 0


def get_site(workspace_id: str, site_id: str) -> PixelSite:
    site = db.session.scalar(sites_query(workspace_id).where(PixelSite.id == site_id))
    if site is None:
        raise not_found("Pixel site not found.")
    return site


def _domain_taken(domain: str, site_id: str | None = None) -> bool:
    stmt = sa.select(PixelSite.id).where(PixelSite.domain == domain)
    if site_id is not None:
        stmt = stmt.where(PixelSite.id != site_id)
    return db.session.scalar(stmt) is not None


def _commit_unique_domain() -> None:
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request took the domain between check and commit
        db.session.rollback()
        raise conflict("domain", "This domain is already registered.") from None


def create_site(workspace_id: str, tier: str, data: dict) -> PixelSite:
    domain = data["domain"].lower()
    entitlements.require(workspace_id, tier, "pixel_sites", lambda: site_count(workspace_id))
    if _domain_taken(domain):
        raise conflict("domain", "This domain is already registered.")
    site = PixelSite(
        id=new_id("pxs"),
        workspace_id=workspace_id,
        domain=domain,
        public_id=new_id("px"),
        enabled=data.get("enabled", True),
        features={**DEFAULT_FEATURES, **data.get("features", {})},
        sample_rate=data.get("sample_rate", 1.0),
        allowed_origins=data.get("allowed_origins", []),
    )
    db.session.add(site)
    _commit_unique_domain()
    return site


def update_site(workspace_id: str, site_id: str, data: dict) -> PixelSite:
    site = get_site(workspace_id, site_id)
    if "domain" in data:
        data["domain"] = data["domain"].lower()
        if _domain_taken(data["domain"], site.id):
            raise conflict("domain", "This domain is already registered.")
    if "features" in data:
        data["features"] = {**site.features, **data["features"]}
    for name, value in data.items():
        setattr(site, name, value)
    _commit_unique_domain()
    _forget(site)
    return site


def delete_site(workspace_id: str, site_id: str) -> None:
    site = get_site(workspace_id, site_id)
    db.session.delete(site)
    db.session.commit()
    _forget(site)


# --- what a tracking request is checked against ------------------------------------------------


@dataclass(frozen=True)
class SiteInfo:
    id: str
    public_id: str
    workspace_id: str
    domain: str
    enabled: bool
    features: dict
    sample_rate: float
    allowed_origins: tuple[str, ...]
    over_limit: bool  # the workspace's pixel_events are used up (and it may not go past them)


_cache: dict[str, tuple[float, SiteInfo | None]] = {}
_cache_lock = threading.Lock()


def _forget(site: PixelSite) -> None:
    with _cache_lock:
        for key in (site.id, site.public_id, site.domain):
            _cache.pop(key, None)
        for key in [k for k, (_, info) in _cache.items() if info is not None and info.id == site.id]:
            _cache.pop(key, None)


def _load(key: str) -> SiteInfo | None:
    site = db.session.scalar(sa.select(PixelSite).where(sa.or_(PixelSite.public_id == key, PixelSite.domain == key)))
    if site is None:
        return None
    workspace = workspaces.get_workspace_or_none(site.workspace_id)
    over = workspace is None or not entitlements.check(site.workspace_id, workspace.tier, "pixel_events")["allowed"]
    info = SiteInfo(
        site.id,
        site.public_id,
        site.workspace_id,
        site.domain,
        site.enabled,
        {**DEFAULT_FEATURES, **site.features},
        site.sample_rate,
        tuple(site.allowed_origins),
        over,
    )
    return info


def site_info(key: str) -> SiteInfo | None:
    """The site with this public_id or domain, as read at most CACHE_SECONDS ago: tracking reads
    no database on most requests."""
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    info = _load(key)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now + CACHE_SECONDS, info)
    return info


def host_of(url: str | None) -> str | None:
    try:
        host = urlsplit(url or "").hostname
    except ValueError:
        return None
    return host.lower() if host else None


def belongs_to(host: str | None, domain: str) -> bool:
    return host is not None and (host == domain or host.endswith("." + domain))


def config_for(site_key: str | None, origin: str | None) -> dict:
    key = site_key or host_of(origin)
    info = site_info(key) if key else None
    if info is None and key and not site_key:
        info = site_info(key.removeprefix("www."))
    if info is None or not info.enabled:
        return DISABLED
    return {"enabled": True, "features": info.features, "sample_rate": info.sample_rate}


# --- tracking --------------------------------------------------------------------------------


def _site_for(event: dict, default_site: str | None) -> SiteInfo:
    key = event.get("site") or default_site
    host = host_of(event["url"])
    info = site_info(key) if key else None
    if info is None and not key and host:
        info = site_info(host) or site_info(host.removeprefix("www."))
    if info is None:
        raise not_found("Pixel site not found.")
    return info


def _problems(event: dict, info: SiteInfo, origin: str | None) -> dict[str, list[str]]:
    problems = {}
    if not belongs_to(host_of(event["url"]), info.domain):
        problems["url"] = [f"The url is not on the site's domain ({info.domain})."]
    if origin and info.allowed_origins and origin not in info.allowed_origins:
        problems["origin"] = ["This page's origin is not in the site's allowed_origins."]
    return problems


def _wanted(event: dict, info: SiteInfo, user_agent: str) -> bool:
    """Whether an event is kept: not a bot, the site and its feature on, inside the sample."""
    if not info.enabled or info.over_limit or not user_agent or BOTS.search(user_agent):
        return False
    feature = "pageviews" if event["event"] == "pageview" else "events"
    if not info.features.get(feature, True):
        return False
    return info.sample_rate >= 1 or random.random() < info.sample_rate


def track(
    events: list[dict], default_site: str | None, ip: str, header_agent: str, origin: str | None, limit: str
) -> int:
    """Check every event (404 unknown site, 422 foreign url or origin), then count the request
    against the client's `limit` and buffer the wanted events in one step (429 past the limit);
    returns how many were accepted."""
    checked = []
    problems: dict[str, list[str]] = {}
    for index, event in enumerate(events):
        info = _site_for(event, default_site)
        for field, messages in _problems(event, info, origin).items():
            problems[field if len(events) == 1 else f"events.{index}.{field}"] = messages
        checked.append((event, info))
    if problems:
        raise validation_failed(problems)
    accepted = []
    for event, info in checked:
        user_agent = event.get("user_agent") or header_agent
        if _wanted(event, info, user_agent):
            accepted.append(buffer.entry(event, info.id, info.workspace_id, ip, user_agent))
    if accepted:
        buffer.append(accepted, limit, "pixel", ip)
    else:
        ratelimit.hit(limit, "pixel", ip)
    return len(accepted)
