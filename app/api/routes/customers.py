"""Customers: batch upsert, read, erase (GDPR art. 17) and export (art. 15/20)."""

from fastapi import APIRouter, Response

from app.api.deps import SessionDep, WorkspaceDep
from app.customers import gdpr
from app.customers import service as customers
from app.models.schemas import CustomerBatchIn, CustomerBatchOut, CustomerExport, CustomerPublic

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.post("/batch", response_model=CustomerBatchOut,
             responses={413: {"description": "more than 10,000 customers"}})
def batch_upsert(body: CustomerBatchIn, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Upsert up to 10,000 customers; bad rows are reported by index, good rows stored."""
    return customers.upsert_customers(session, ws.id, body.customers)


@router.get("/{external_id}", response_model=CustomerPublic)
def get_customer(external_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """The customer with their send-time profile."""
    return gdpr.customer_view(session, customers.get_customer(session, ws.id, external_id))


@router.delete("/{external_id}", status_code=204, response_class=Response)
def erase_customer(external_id: str, ws: WorkspaceDep, session: SessionDep) -> Response:
    """Erase the customer's personal data and events; later webhooks for the address are dropped."""
    customers.erase_customer(session, ws.id, external_id)
    return Response(status_code=204)


@router.get("/{external_id}/export", response_model=CustomerExport, response_model_exclude_unset=True)
def export_customer(external_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Everything held about the customer, as JSON."""
    return gdpr.export_customer(session, customers.get_customer(session, ws.id, external_id))
