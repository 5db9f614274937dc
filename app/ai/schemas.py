from marshmallow import fields, validate

from ..core.schemas import Schema, StrictInteger, UtcDateTime
from .models import STATUSES

MESSAGE_LENGTH = 32_000  # characters of one question or prompt (the body limit bounds it too)
MODEL = fields.String(
    validate=validate.Length(min=1, max=200),
    metadata={"description": "AI_MODEL by default; another must be in AI_ALLOWED_MODELS", "example": "gpt-4o-mini"},
)
SYSTEM = fields.String(
    validate=validate.Length(min=1, max=MESSAGE_LENGTH),
    metadata={"description": "Instructions sent first (not stored)", "example": "Answer in one sentence."},
)


class TokenUsageSchema(Schema):
    prompt_tokens = fields.Integer(allow_none=True, metadata={"example": 12})
    completion_tokens = fields.Integer(allow_none=True, metadata={"example": 30})
    total_tokens = fields.Integer(allow_none=True, metadata={"example": 42})


class ChatSchema(Schema):
    id = fields.String(metadata={"example": "cht_4Tq9Lm2Xa8Rk1Vb6Zc3Nd7Pe"})
    title = fields.String(metadata={"example": "How do webhooks retry?"})
    model = fields.String(metadata={"example": "gpt-4o-mini"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-15T10:31:00Z"})


class MessageSchema(Schema):
    id = fields.String(metadata={"example": "msg_8Hs2Kd9Lq4Wm1Xn7Bv3Cz6Ty"})
    role = fields.String(metadata={"example": "assistant"})
    content = fields.String(metadata={"example": "They retry on a schedule…"})
    status = fields.String(
        metadata={
            "description": f"{', '.join(STATUSES)}: answered in full, the client left mid-stream, the provider "
            "failed mid-stream (the text is what had arrived)",
            "example": "complete",
        }
    )
    model = fields.String(allow_none=True, metadata={"example": "gpt-4o-mini"})
    usage = fields.Nested(TokenUsageSchema, allow_none=True)
    credits_charged = fields.Integer(metadata={"example": 42})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:31:00Z"})


class ChatDetailSchema(ChatSchema):
    messages = fields.List(fields.Nested(MessageSchema))


class ChatRequest(Schema):
    chat_id = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "Continue this chat; without it a new chat is made", "example": "cht_4Tq9Lm2Xa8Rk1"},
    )
    message = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_LENGTH))
    model = MODEL
    system = SYSTEM
    stream = fields.Boolean(
        load_default=True,
        metadata={"description": "false (or `Accept: application/json`): one JSON object instead of events"},
    )


class ChatAnswerSchema(Schema):
    chat_id = fields.String(metadata={"example": "cht_4Tq9Lm2Xa8Rk1Vb6Zc3Nd7Pe"})
    message = fields.Nested(MessageSchema)
    usage = fields.Nested(TokenUsageSchema, allow_none=True)
    credits_charged = fields.Integer(metadata={"example": 42})


class ChatUpdate(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))


class GenerateRequest(Schema):
    prompt = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_LENGTH))
    system = SYSTEM
    max_tokens = StrictInteger(validate=validate.Range(min=1, max=32_768), metadata={"example": 256})
    model = MODEL


class GenerationSchema(Schema):
    id = fields.String(metadata={"description": "The charge's key", "example": "gen_5Rt8Yu1Io4Pa7Sd2Fg6Hj9Kl"})
    model = fields.String(metadata={"example": "gpt-4o-mini"})
    text = fields.String(metadata={"example": "A short product description…"})
    usage = fields.Nested(TokenUsageSchema, allow_none=True)
    credits_charged = fields.Integer(metadata={"example": 42})
