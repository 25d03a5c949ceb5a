"""Tables and API schemas."""

from app.models.status import CampaignStatus, CustomerStatus, JobStatus, MessageStatus
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
    "CampaignStatus",
    "Customer",
    "CustomerProfile",
    "CustomerStats",
    "CustomerStatus",
    "DashboardSession",
    "Erasure",
    "EspConnection",
    "Event",
    "Job",
    "JobStatus",
    "Message",
    "MessageStatus",
    "ModelVersion",
    "Send",
    "WebhookInbox",
    "WebhookNonce",
    "Workspace",
]
