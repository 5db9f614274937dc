"""The success envelopes views return (API.md §4); smorest dumps them with the envelope schemas."""

from flask import g


def one(resource) -> dict:
    return {"data": resource}


def created(resource, message: str) -> dict:
    return {"message": message, "data": resource}


def add_header(name: str, value: str) -> None:
    """Headers a view's result carries (Link, X-Total-Count); sent by core's after_request."""
    g.setdefault("response_headers", {})[name] = value
