"""The demo business: Harbour & Vine, a homeware shop with a web store, built through the
public actions only, so that every screen has a believable story to show.

`prepare_demo()` readies a database for `threadline demo`; `seed()` builds the business.
Everything is drawn from one `random.Random(seed)`: the same seed gives the same shop.
Time runs on a FrozenClock that each customer's story moves forward, from 45 days ago up
to now, so timelines spread over weeks and the newest cases are still open."""

from __future__ import annotations

from threadline.demo.command import prepare_demo
from threadline.demo.data import (
    ADMIN_EMAIL,
    CONTACT_CENTRE,
    DEMO_PASSWORD,
    HISTORY,
    LOGIN,
    MAX_CUSTOMERS,
    MIN_CUSTOMERS,
    SHOP,
    SHOP_FLOOR,
    SOCIAL,
    TRADE_DESK,
)
from threadline.demo.scheduler import Story
from threadline.demo.seeding import DemoSummary, is_seeded, seed

__all__ = [
    "ADMIN_EMAIL",
    "CONTACT_CENTRE",
    "DEMO_PASSWORD",
    "HISTORY",
    "LOGIN",
    "MAX_CUSTOMERS",
    "MIN_CUSTOMERS",
    "SHOP",
    "SHOP_FLOOR",
    "SOCIAL",
    "TRADE_DESK",
    "DemoSummary",
    "Story",
    "is_seeded",
    "prepare_demo",
    "seed",
]
