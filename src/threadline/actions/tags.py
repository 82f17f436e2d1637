"""Tags on a case: short labels agents add and remove ("refund", "vip-complaint") so that
cases can be found and counted by theme."""

from __future__ import annotations

import re

from sqlalchemy import delete
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, action, unit_of_work
from threadline.actions.cases import case_for_update
from threadline.errors import InvalidInput
from threadline.models import CaseTag
from threadline.queries.cases import case_tags

MAX_TAG = 40
MAX_TAGS = 30
_TAG = re.compile(r"[\w.:-]+")


def normalise_tag(text: str) -> str:
    """One spelling per tag: lower case, spaces as dashes ("Late delivery" is
    "late-delivery"), letters, digits and . : _ - only."""
    tag = "-".join(text.strip().lower().split())
    if not tag:
        raise InvalidInput("a tag needs at least one letter or digit")
    if len(tag) > MAX_TAG:
        raise InvalidInput(f"a tag is at most {MAX_TAG} characters")
    if not _TAG.fullmatch(tag):
        raise InvalidInput("a tag holds letters, digits and . : _ - only")
    return tag


@action
def add_tag(db: Session, env: Env, actor: Actor, case_id: int, text: str) -> tuple[str, ...]:
    """Tag the case; a tag it already has changes nothing. Answers the case's tags."""
    tag = normalise_tag(text)
    with unit_of_work(db, env, actor) as unit:
        case = case_for_update(unit, case_id, None)
        tags = case_tags(db, case.id)
        if tag in tags:
            return tags
        if len(tags) >= MAX_TAGS:
            raise InvalidInput(f"a case has at most {MAX_TAGS} tags")
        db.add(CaseTag(case_id=case.id, tag=tag))
        db.flush()
        tags = case_tags(db, case.id)
        unit.audit("case.tagged", "case", case.id, tag=tag)
        unit.emit("case.updated", case_id=case.id, customer_id=case.customer_id, tags=list(tags))
        return tags


@action
def remove_tag(db: Session, env: Env, actor: Actor, case_id: int, text: str) -> tuple[str, ...]:
    """Take a tag off the case; a tag it does not have changes nothing."""
    tag = normalise_tag(text)
    with unit_of_work(db, env, actor) as unit:
        case = case_for_update(unit, case_id, None)
        tags = case_tags(db, case.id)
        if tag not in tags:
            return tags
        db.execute(delete(CaseTag).where(CaseTag.case_id == case.id, CaseTag.tag == tag))
        tags = case_tags(db, case.id)
        unit.audit("case.untagged", "case", case.id, tag=tag)
        unit.emit("case.updated", case_id=case.id, customer_id=case.customer_id, tags=list(tags))
        return tags
