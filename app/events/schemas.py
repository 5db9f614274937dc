from marshmallow import fields

from ..core.lists import ListQuery
from ..core.schemas import Schema, UtcDateTime


class EventSchema(Schema):
    id = fields.String(metadata={"example": "evt_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    type = fields.String(metadata={"example": "workspace.updated"})
    timestamp = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    workspace_id = fields.String()
    data = fields.Dict(metadata={"description": "The resource as its GET returns it"})
    created_at = UtcDateTime()


class EventListQuery(ListQuery):
    type = fields.String(metadata={"description": "Exact type or a pattern like `task.*`", "example": "api_key.*"})
