"""The OpenAPI 3.1 document of /api/v1 (served at /api/v1/openapi.json)."""

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
ERROR = {
    "description": "Refused, with a sentence for a person",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}
SYNC_HEADER = {
    "name": "X-Dutypwa-Sync",
    "in": "header",
    "required": True,
    "schema": {"const": "1"},
    "description": "Marks the app's own requests (with Origin / Sec-Fetch-Site checks).",
}

CHECKIN_PAYLOAD = {
    "type": "object",
    "required": ["token", "fields"],
    "properties": {
        "token": {"type": "string", "description": "the checkpoint's QR token"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "the check-in form: item-<i> = ok|not_ok, note-<i>, note",
        },
    },
}
FINDING_PAYLOAD = {
    "type": "object",
    "required": ["site", "category", "severity", "description"],
    "properties": {
        "site": {"type": "string"},
        "checkpoint_token": {"type": ["string", "null"]},
        "area_id": {"type": ["integer", "null"]},
        "location": {"type": "string", "maxLength": 200},
        "category": {
            "enum": [
                "garden",
                "equipment",
                "hygiene",
                "safety",
                "lighting",
                "facilities",
                "discipline",
                "other",
            ]
        },
        "severity": {"enum": ["urgent", "normal", "low"]},
        "description": {"type": "string", "maxLength": 2000},
        "photos": {"type": "array", "items": UUID, "maxItems": 6},
    },
}

FORM_PAYLOAD = {
    "type": "object",
    "required": ["site", "fields"],
    "description": "finding_step, duty_entry, duty_step, roster_request, all_hands_ack: the "
    "form as it is (docs/offline.md)",
    "properties": {
        "site": {"type": "string"},
        "subject": {
            **UUID,
            "description": "the nonconformity or duty-log entry (steps), the all-hands period",
        },
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "photos": {"type": "array", "items": UUID, "maxItems": 6},
    },
}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dutypwa sync API",
            "version": "1",
            "description": "How a device's outbox reaches the server. See docs/offline.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "schemas": {
                "Op": {
                    "type": "object",
                    "required": ["id", "kind", "device_time", "payload"],
                    "properties": {
                        "id": UUID,
                        "kind": {
                            "enum": [
                                "checkin",
                                "finding",
                                "finding_step",
                                "duty_entry",
                                "duty_step",
                                "roster_request",
                                "all_hands_ack",
                            ]
                        },
                        "device_time": TIME,
                        "payload": {"oneOf": [CHECKIN_PAYLOAD, FINDING_PAYLOAD, FORM_PAYLOAD]},
                    },
                },
                "Result": {
                    "type": "object",
                    "properties": {
                        "id": UUID,
                        "status": {"enum": ["created", "duplicate", "conflict", "rejected"]},
                        "reason": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "security": [{"session": []}],
        "paths": {
            "/sync": {
                "post": {
                    "summary": "Deliver up to 100 ops; one result per op, in order",
                    "parameters": [SYNC_HEADER],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["ops"],
                                    "properties": {
                                        "device": {
                                            "type": "object",
                                            "properties": {
                                                "id": UUID,
                                                "outbox_size": {"type": "integer", "minimum": 0},
                                                "oldest_pending": {"type": ["string", "null"]},
                                                "now": TIME,
                                            },
                                        },
                                        "ops": {
                                            "type": "array",
                                            "maxItems": 100,
                                            "items": {"$ref": "#/components/schemas/Op"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Results",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "server_time": TIME,
                                            "results": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Result"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "400": ERROR,
                        "401": ERROR,
                        "403": ERROR,
                        "413": ERROR,
                    },
                }
            },
            "/photos/{id}": {
                "put": {
                    "summary": "Store one photo, idempotently",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": UUID},
                        SYNC_HEADER,
                        {
                            "name": "X-Dutypwa-Site",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Content-SHA256",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            t: {"schema": {"type": "string", "format": "binary"}}
                            for t in ("image/jpeg", "image/png", "image/webp")
                        },
                    },
                    "responses": {
                        "201": {"description": "Stored"},
                        "200": {"description": "The same photo was stored already"},
                        "409": ERROR,
                        "400": ERROR,
                        "401": ERROR,
                        "403": ERROR,
                        "413": ERROR,
                        "415": ERROR,
                    },
                }
            },
            "/reference": {
                "get": {
                    "summary": "Sites, areas and checkpoints (with checklists) for offline use",
                    "parameters": [SYNC_HEADER],
                    "responses": {"200": {"description": "Reference data"}, "401": ERROR},
                }
            },
        },
    }
