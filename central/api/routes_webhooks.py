"""Webhook deliveries not yet delivered: pending (being retried) and failed for good."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from central.api.auth import Reader
from central.api.context import Context
from central.api.schemas import DeliveryOut
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.webhooks.outbox import DeliveryStatus, list_deliveries

router = APIRouter(tags=["webhooks"])


@router.get("/webhooks", response_model=list[DeliveryOut])
async def deliveries(
    _principal: Reader,
    context: Context,
    status: Annotated[
        Literal["undelivered", "pending", "failed", "delivered"], Query(description="undelivered: pending and failed")
    ] = "undelivered",
    recipient: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    statuses: tuple[DeliveryStatus, ...] = ("pending", "failed") if status == "undelivered" else (status,)
    async with context.engine.connect() as connection:
        found = await list_deliveries(connection, statuses=statuses, recipient=recipient, limit=limit,
                                      hidden_classes=STAFF_HIDDEN_CLASSES)
    return [DeliveryOut.model_validate(delivery) for delivery in found]
