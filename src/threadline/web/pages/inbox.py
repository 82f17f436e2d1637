"""The inbox (being built): for now the case list."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from threadline.web.desk_user import DeskUserDep

router = APIRouter()


@router.get("/inbox")
def inbox(_user: DeskUserDep) -> RedirectResponse:
    return RedirectResponse("/cases", status_code=303)
