"""A request holds at most one pooled database connection at a time. When the caller's
look-up kept its session open through the handler, every change needed two, and under
load PostgreSQL's pool ran dry with each request holding one and waiting for another."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import make_caller
from tests.factories import receive_email
from threadline.actions import Env
from threadline.api.app import create_app
from threadline.db import Database, ReadSession
from threadline.runtime import Runtime
from threadline.vocabulary import Role


def test_every_request_works_with_a_pool_of_one_connection(
    runtime: Runtime, db: Session, env: Env
) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite reads and writes through two engines of its own")
    engine = create_engine(
        runtime.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=3
    )
    single = Database(
        engine=engine,
        write=sessionmaker(engine, expire_on_commit=False),
        read=sessionmaker(engine, class_=ReadSession, expire_on_commit=False),
        read_engine=engine,
    )
    caller = make_caller(db, env, Role.AGENT)
    case_id = receive_email(db, env, text="Where is my parcel?").case_id
    db.close()
    try:
        with TestClient(create_app(dataclasses.replace(runtime, db=single))) as client:
            note = client.post(
                f"/api/v1/cases/{case_id}/notes",
                json={"text": "Asked the courier"},
                headers=caller.headers,
            )
            assert note.status_code == 201, note.text
            reply = client.post(
                f"/api/v1/cases/{case_id}/replies",
                json={"text": "It is on its way."},
                headers=caller.headers,
            )
            assert reply.status_code == 202, reply.text
            listed = client.get(f"/api/v1/cases/{case_id}/touches", headers=caller.headers)
            assert [t["text"] for t in listed.json()["items"]] == [
                "Where is my parcel?",
                "Asked the courier",
                "It is on its way.",
            ]
    finally:
        engine.dispose()
