"""Every table, imported in one place so that the metadata is complete."""

from threadline.models.access import AgentSession, SignInAttempt
from threadline.models.base import Base
from threadline.models.calls import Call, CallBack, CallEvent, SmsConsent
from threadline.models.cases import (
    Attachment,
    Case,
    CaseTag,
    ChannelSwitch,
    ReplyKey,
    ThreadKey,
    Touch,
    format_ref,
    parse_ref,
)
from threadline.models.customers import Customer, Identity, Merge, Segment
from threadline.models.mail import InboundMail, Lease, Mailbox
from threadline.models.operations import AuditEntry, OutboxMessage
from threadline.models.people import Agent, ApiToken, Team, agent_teams
from threadline.models.service_levels import Calendar, Clock, ServicePolicy

__all__ = [
    "Agent",
    "AgentSession",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Base",
    "Calendar",
    "Call",
    "CallBack",
    "CallEvent",
    "Case",
    "CaseTag",
    "ChannelSwitch",
    "Clock",
    "Customer",
    "Identity",
    "InboundMail",
    "Lease",
    "Mailbox",
    "Merge",
    "OutboxMessage",
    "ReplyKey",
    "Segment",
    "ServicePolicy",
    "SignInAttempt",
    "SmsConsent",
    "Team",
    "ThreadKey",
    "Touch",
    "agent_teams",
    "format_ref",
    "parse_ref",
]
