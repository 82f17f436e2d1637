"""The only code that changes state. Each public action validates, writes in one
transaction together with its audit row, commits, and publishes its events after the
commit."""

from threadline.actions.agents import NewAgent, create_agent, create_token, set_presence
from threadline.actions.base import Actor, Env
from threadline.actions.cases import (
    ReplyResult,
    add_note,
    assign,
    reply,
    set_priority,
    set_status,
    switch_channel,
)
from threadline.actions.customers import (
    IdentityInput,
    add_identity,
    create_customer,
    merge_customers,
    undo_merge,
)
from threadline.actions.inbound import Received, StoreVisit, log_store_visit, receive
from threadline.actions.routing import route_waiting

__all__ = [
    "Actor",
    "Env",
    "IdentityInput",
    "NewAgent",
    "Received",
    "ReplyResult",
    "StoreVisit",
    "add_identity",
    "add_note",
    "assign",
    "create_agent",
    "create_customer",
    "create_token",
    "log_store_visit",
    "merge_customers",
    "receive",
    "reply",
    "route_waiting",
    "set_presence",
    "set_priority",
    "set_status",
    "switch_channel",
    "undo_merge",
]
