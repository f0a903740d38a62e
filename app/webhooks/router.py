"""Webhook subscriptions and deliveries (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route, SettingsDep
from app.schemas import DbId
from app.webhooks import service
from app.webhooks.guard import AddressPolicy
from app.webhooks.models import DeliveryStatus
from app.webhooks.schemas import DeliveryRead, SubscriptionCreate, SubscriptionRead
from app.webhooks.secrets import box_for

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=Route)
Admin = Annotated[Principal, permit(P.WEBHOOKS_ADMIN)]


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, summary="Subscribe")
def create_subscription(
    data: SubscriptionCreate, session: DbSession, settings: SettingsDep, _: Admin
) -> SubscriptionRead:
    """Deliveries are POSTed as JSON with `X-Helpdesk-Signature: t=<unix>,v1=<hex>`, the
    HMAC-SHA256 of `<t>.<body>` with the secret; retried with exponential back-off (capped
    at WEBHOOK_BACKOFF_MAX_SECONDS) for WEBHOOK_RETRY_HOURS until the receiver answers 2xx
    (at least once: receivers de-duplicate by event id). A URL whose host is or resolves to
    a loopback, private, link-local, multicast or reserved address is refused (422) unless
    WEBHOOK_ALLOWED_NETWORKS lists it; the secret is stored encrypted."""
    sub = service.create_subscription(
        session=session,
        data=data,
        policy=AddressPolicy.from_entries(settings.webhook_allowed_networks),
        box=box_for(settings),
    )
    return SubscriptionRead.model_validate(sub)


@router.get("/subscriptions", summary="List subscriptions")
def list_subscriptions(session: DbSession, _: Admin) -> list[SubscriptionRead]:
    """All subscriptions (secrets are not shown)."""
    return [SubscriptionRead.model_validate(s) for s in service.list_subscriptions(session=session)]


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe",
)
def delete_subscription(subscription_id: DbId, session: DbSession, _: Admin) -> Response:
    """Stop sending to this receiver; past deliveries stay readable."""
    service.delete_subscription(session=session, subscription_id=subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/deliveries", summary="List deliveries with every attempt")
def list_deliveries(
    session: DbSession,
    _: Admin,
    subscription_id: DbId | None = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> list[DeliveryRead]:
    """The newest 200 deliveries, each with its attempt log."""
    return service.list_deliveries(session=session, subscription_id=subscription_id, status=status_)


@router.post("/deliveries/{delivery_id}/redeliver", summary="Deliver again")
def redeliver(delivery_id: DbId, session: DbSession, _: Admin) -> DeliveryRead:
    """Queue the delivery again now (for a failed one, or a receiver that lost it)."""
    return service.redeliver(session=session, delivery_id=delivery_id)
