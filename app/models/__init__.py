"""Tables and API schemas."""

from app.models.tables import (
    ApiKey,
    Campaign,
    Customer,
    CustomerProfile,
    CustomerStats,
    DashboardSession,
    Erasure,
    EspConnection,
    Event,
    Job,
    Message,
    ModelVersion,
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
    "DashboardSession",
    "Erasure",
    "EspConnection",
    "Event",
    "Job",
    "Message",
    "ModelVersion",
    "Send",
    "WebhookInbox",
    "WebhookNonce",
    "Workspace",
]
