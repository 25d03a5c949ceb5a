"""Tables and API schemas."""

from app.models.tables import (
    ApiKey,
    Campaign,
    Customer,
    CustomerProfile,
    CustomerStats,
    Erasure,
    EspConnection,
    Event,
    Job,
    Message,
    ModelVersion,
    Segment,
    Send,
    WebhookInbox,
    WebhookNonce,
    Workspace,
)

__all__ = [
    "ApiKey",
    "Campaign",
    "Customer",
    "CustomerProfile",
    "CustomerStats",
    "Erasure",
    "EspConnection",
    "Event",
    "Job",
    "Message",
    "ModelVersion",
    "Segment",
    "Send",
    "WebhookInbox",
    "WebhookNonce",
    "Workspace",
]
