"""Who may do what: one table, written once. Every route asks it; nothing else decides."""

from __future__ import annotations

from enum import StrEnum

from threadline.vocabulary import Role


class Permission(StrEnum):
    LOOK_UP_CUSTOMERS = "look_up_customers"  # find a customer, see identities and cases
    EDIT_CUSTOMERS = "edit_customers"  # create customers, link identities
    MERGE_CUSTOMERS = "merge_customers"  # merge and undo merges
    READ_CASES = "read_cases"  # cases and their customer-facing touches
    READ_PRIVATE = "read_private"  # internal notes and private events
    WORK_CASES = "work_cases"  # reply, note, change status, take an unowned case
    REASSIGN_CASES = "reassign_cases"  # give a case owned by one agent to another
    SEE_ALL_QUEUES = "see_all_queues"  # every team's inbox, the wallboard
    READ_REPORTS = "read_reports"
    LOG_STORE_VISITS = "log_store_visits"
    POST_INBOUND = "post_inbound"  # integrations hand over customer messages
    MANAGE_AGENTS = "manage_agents"
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_SERVICE_LEVELS = "manage_service_levels"


_CLERK = frozenset(
    {Permission.LOOK_UP_CUSTOMERS, Permission.READ_CASES, Permission.LOG_STORE_VISITS}
)
_AGENT = _CLERK | {
    Permission.EDIT_CUSTOMERS,
    Permission.MERGE_CUSTOMERS,
    Permission.READ_PRIVATE,
    Permission.WORK_CASES,
    Permission.POST_INBOUND,
}
_SUPERVISOR = _AGENT | {
    Permission.REASSIGN_CASES,
    Permission.SEE_ALL_QUEUES,
    Permission.READ_REPORTS,
}
_ADMIN = frozenset(Permission)

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: _CLERK,
    Role.AGENT: _AGENT,
    Role.SUPERVISOR: _SUPERVISOR,
    Role.ADMIN: _ADMIN,
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]
