"""The desk's pages, one module per screen. Each route reads who is signed in, runs its
queries on the reading session and renders; every change goes through the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from threadline.api.threads import SessionEndingRoute
from threadline.web.pages import admin, cases, counter, inbox, search, sign_in, wallboard

# The desk's pages are not part of the JSON API, so they stay out of the OpenAPI schema.
router = APIRouter(route_class=SessionEndingRoute, include_in_schema=False)
for _module in (sign_in, inbox, cases, search, wallboard, counter, admin):
    router.include_router(_module.router)

__all__ = ["router"]
