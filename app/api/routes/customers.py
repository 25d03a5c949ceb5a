"""Customers: list and search, batch upsert, CSV import, read, erase (GDPR art. 17) and export (art. 15/20)."""

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from app.api.body import chunks_of, spool_body
from app.api.deps import SessionDep, WorkspaceDep
from app.core.errors import Invalid
from app.core.streaming import run_with_body
from app.customers import gdpr, listing
from app.customers import service as customers
from app.customers.csv_import import import_customers_csv
from app.customers.mapping import parse_map
from app.models.schemas import (
    CustomerBatchIn,
    CustomerBatchOut,
    CustomerExport,
    CustomerImportOut,
    CustomerPage,
    CustomerPublic,
)

router = APIRouter(prefix="/v1/customers", tags=["customers"])
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024


@router.get("", response_model=CustomerPage)
def list_customers(ws: WorkspaceDep, session: SessionDep,
                   search: str = Query("", max_length=200, description="Part of an external id, email or name"),
                   status: str = Query("", description="subscribed, unsubscribed, bounced or complained"),
                   segment: str = Query("", max_length=200, description="A saved segment's id or name"),
                   limit: int = Query(50, ge=1, le=listing.MAX_LIMIT), cursor: str | None = None) -> dict:
    """A page of customers, oldest first: `{"items", "next_cursor", "total"}`; search is case-insensitive."""
    return listing.list_customers(session, ws.id, search, status, segment, limit, cursor)


@router.post("/batch", response_model=CustomerBatchOut,
             responses={413: {"description": "more than 10,000 customers"}})
def batch_upsert(body: CustomerBatchIn, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Upsert up to 10,000 customers; bad rows are reported by index, good rows stored."""
    return customers.upsert_customers(session, ws.id, body.customers)


@router.post("/import", response_model=CustomerImportOut, response_model_exclude_unset=True,
             responses={413: {"description": "body larger than 2 GB"},
                        422: {"description": "no email column, or a bad map"}})
async def import_csv(request: Request, ws: WorkspaceDep, session: SessionDep,
                     map: str = Query("", max_length=4000,
                                      description="Column:target pairs, e.g. Email Address:email")) -> dict:
    """Import a customer CSV (any delimiter; UTF-8 with or without BOM, or Latin-1), streamed.

    Exports of Mailchimp, Klaviyo, SendGrid and Brevo are recognised by their headers; `map` names other
    columns. Other columns become attributes. Returns `{"upserted", "errors": [{"line", "error"}], "mapping"}`.
    """
    try:
        given = parse_map(map) if map else None
    except ValueError as exc:
        raise Invalid(str(exc), loc=["query", "map"]) from None
    try:
        with await spool_body(request, MAX_UPLOAD_BYTES) as body:  # received in full before any write
            return await run_with_body(chunks_of(body), run_in_threadpool,
                                       lambda chunks: import_customers_csv(session, ws.id, chunks, given))
    except ValueError as exc:
        raise Invalid(str(exc), loc=["body"]) from None


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
