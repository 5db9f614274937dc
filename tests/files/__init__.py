"""Files: helpers shared by the local and S3 tests."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.events import Event
from app.extensions import db

FILES = "/api/v1/files"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(48))
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 4 + b"%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + bytes(40)
GIF = b"GIF89a" + bytes(30)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(30)


def declare(client, headers, content=PNG, **body) -> dict:
    body.setdefault("filename", "picture.png")
    body.setdefault("content_type", "image/png")
    body.setdefault("size", len(content))
    response = client.post(FILES, json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["data"]


def events(workspace_id: str, type_: str) -> list[dict]:
    return [
        e.data
        for e in db.session.scalars(
            sa.select(Event).where(Event.workspace_id == workspace_id, Event.type == type_).order_by(Event.created_at)
        )
    ]
