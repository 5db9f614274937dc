"""The built-in entities: one declaration each, in the format custom entities use too."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .declarations import MEMBERS

CURRENCY = {"type": "string", "max_length": 3, "default": "USD"}

DECLARATIONS: tuple[dict, ...] = (
    {
        "name": "tasks",
        "singular": "task",
        "id_prefix": "tsk",
        "fields": {
            "title": {"type": "string", "required": True, "max_length": 200},
            "description": {"type": "text"},
            "status": {"type": "enum", "values": ["todo", "in_progress", "completed"], "default": "todo"},
            "priority": {"type": "enum", "values": ["low", "medium", "high"], "default": "medium"},
            "assignee_id": {"type": "reference", "entity": MEMBERS},
            "due_date": {"type": "date"},
        },
        "relations": {
            "assignee": {"type": "belongs_to", "entity": MEMBERS, "foreign_key": "assignee_id"},
            "comments": {"type": "has_many", "entity": "comments", "foreign_key": "task_id"},
        },
        "searchable": ["title", "description"],
        "sortable": ["title", "status", "priority", "due_date"],
        "filterable": ["title", "status", "priority", "assignee_id", "due_date", "created_at", "updated_at"],
    },
    {
        "name": "comments",
        "singular": "comment",
        "id_prefix": "cmt",
        "fields": {
            "task_id": {"type": "reference", "entity": "tasks", "required": True, "on_delete": "cascade"},
            "text": {"type": "text", "required": True, "max_length": 10000},
        },
        "relations": {"task": {"type": "belongs_to", "entity": "tasks", "foreign_key": "task_id"}},
        "searchable": ["text"],
        "filterable": ["task_id", "created_at"],
    },
    {
        "name": "customers",
        "singular": "customer",
        "id_prefix": "cus",
        "fields": {
            "name": {"type": "string", "required": True, "max_length": 200},
            "email": {"type": "email", "unique": True, "max_length": 254},
            "company": {"type": "string", "max_length": 200},
            "phone": {"type": "string", "max_length": 50},
        },
        "relations": {"orders": {"type": "has_many", "entity": "orders", "foreign_key": "customer_id"}},
        "searchable": ["name", "email", "company"],
        "sortable": ["name", "email", "company"],
        "filterable": ["name", "email", "company", "created_at"],
    },
    {
        "name": "products",
        "singular": "product",
        "id_prefix": "prd",
        "fields": {
            "name": {"type": "string", "required": True, "max_length": 200},
            "sku": {"type": "string", "unique": True, "max_length": 64},
            "price": {"type": "number", "min": 0},
            "currency": CURRENCY,
            "stock": {"type": "integer", "min": 0, "default": 0},
            "status": {"type": "enum", "values": ["active", "archived"], "default": "active"},
        },
        "searchable": ["name", "sku"],
        "sortable": ["name", "sku", "price", "stock"],
        "filterable": ["name", "sku", "price", "stock", "status", "currency", "created_at"],
    },
    {
        "name": "orders",
        "singular": "order",
        "id_prefix": "ord",
        "fields": {
            "customer_id": {"type": "reference", "entity": "customers", "required": True},
            "status": {"type": "enum", "values": ["pending", "paid", "shipped", "cancelled"], "default": "pending"},
            "items": {"type": "json", "default": []},
            "total": {"type": "number", "generated": True},
            "currency": CURRENCY,
        },
        "relations": {"customer": {"type": "belongs_to", "entity": "customers", "foreign_key": "customer_id"}},
        "sortable": ["status", "total"],
        "filterable": ["customer_id", "status", "total", "currency", "created_at"],
    },
)


def order_items(items) -> tuple[list[dict], dict[str, list[str]]]:
    """orders.items: a list of {product_id, quantity ≥ 1, unit_price ≥ 0}; returns the cleaned
    items (prices as numbers) and the errors by path."""
    errors: dict[str, list[str]] = {}
    if not isinstance(items, list):
        return [], {"items": ["Must be a list of {product_id, quantity, unit_price}."]}
    cleaned = []
    for n, item in enumerate(items):
        path = f"items.{n}"
        if not isinstance(item, dict) or set(item) - {"product_id", "quantity", "unit_price"}:
            errors[path] = ["Each item is {product_id, quantity, unit_price}."]
            continue
        quantity, price = item.get("quantity"), item.get("unit_price")
        if not isinstance(item.get("product_id"), str):
            errors[f"{path}.product_id"] = ["Required: a product id."]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            errors[f"{path}.quantity"] = ["An integer of at least 1."]
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            errors[f"{path}.unit_price"] = ["A number of at least 0."]
        cleaned.append(item)
    return cleaned, errors


def order_total(items: list[dict]) -> float:
    """Computed by the server, in decimal arithmetic (no float drift), to cents."""
    try:
        total = sum((Decimal(str(i["unit_price"])) * i["quantity"] for i in items), Decimal(0))
    except (InvalidOperation, KeyError, TypeError):
        return 0.0
    return float(total.quantize(Decimal("0.01")))
