"""Who is looking at a desk page: the session cookie, read once per page.

A page without a valid session sends the browser to the sign-in page (and back again
afterwards); a page the signed-in role may not see answers the friendly 403 page. The
API's own check (`threadline.api.deps`) stays the authority for everything that
changes state; pages only read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy import select

from threadline.actions.access import Principal, session_principal
from threadline.api.deps import SESSION_COOKIE, RuntimeDep
from threadline.errors import Forbidden, Unauthorized
from threadline.models import Agent
from threadline.models.people import agent_teams
from threadline.permissions import GRANTS, Permission, allows
from threadline.vocabulary import Presence, Role


class SignInRequired(Exception):
    """Raised by a page dependency; the app answers with a redirect to /sign-in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/sign-in?next={quote(self.next_path, safe='/')}"


@dataclass(frozen=True)
class DeskUser:
    """The signed-in agent as every page's header needs them."""

    principal: Principal
    presence: Presence
    team_ids: tuple[int, ...]

    @property
    def agent_id(self) -> int:
        return self.principal.agent_id

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def csrf_token(self) -> str:
        return self.principal.csrf_token or ""

    def may(self, permission: str) -> bool:
        return allows(self.role, Permission(permission))

    @property
    def permissions(self) -> frozenset[Permission]:
        return GRANTS[self.role]


def home_for(role: Role) -> str:
    """Where a role starts: the counter for the shop's clerks, the inbox for everyone else."""
    return "/counter" if role is Role.CLERK else "/inbox"


def desk_user(request: Request, runtime: RuntimeDep) -> DeskUser:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInRequired(target)
    with runtime.db.reading() as db:
        try:
            principal = session_principal(db, runtime.env, cookie)
        except Unauthorized:
            raise SignInRequired(target) from None
        agent = db.get(Agent, principal.agent_id)
        assert agent is not None, "session_principal checked the agent"
        presence = agent.presence
        team_ids = tuple(
            db.scalars(select(agent_teams.c.team_id).where(agent_teams.c.agent_id == agent.id))
        )
    return DeskUser(principal=principal, presence=presence, team_ids=team_ids)


DeskUserDep = Annotated[DeskUser, Depends(desk_user)]


def page_requires(permission: Permission) -> Callable[[DeskUser], DeskUser]:
    """A page dependency: the signed-in user, only when their role grants `permission`."""

    def check(user: DeskUserDep) -> DeskUser:
        if not allows(user.role, permission):
            raise Forbidden(
                f"this page is not for a {user.role.value}: it needs permission to "
                f"{permission.value.replace('_', ' ')}"
            )
        return user

    return check
