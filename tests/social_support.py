"""What the Meta and X webhook tests share: reading back what landed, and hypothesis
strategies for provider JSON that is mostly well-formed and sometimes anything at all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from hypothesis import strategies as st

from tests.api.conftest import Caller
from tests.conftest import table_rows
from threadline.api.app import create_app
from threadline.channels.base import Inbound
from threadline.channels.batch import Batch
from threadline.clock import Clock
from threadline.config import Settings
from threadline.models import Touch
from threadline.runtime import Runtime


def shown(client: TestClient, caller: Caller, touch: Touch) -> dict[str, Any]:
    """The touch as the desk's API shows it to `caller`."""
    answer = client.get(f"/api/v1/cases/{touch.case_id}/touches", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    (found,) = [t for t in answer.json()["items"] if t["id"] == touch.id]
    return dict(found)


def only_message(parse: Callable[[dict[str, Any]], Batch], payload: dict[str, Any]) -> Inbound:
    """The one message `parse` reads in `payload`, which must hold nothing else."""
    batch = parse(payload)
    assert batch.ignored == (), batch.ignored
    (inbound,) = batch.messages
    return inbound


def ignored_reasons(
    parse: Callable[[dict[str, Any]], Batch], payload: dict[str, Any]
) -> list[tuple[str, bool]]:
    """Why `parse` passed over each item of `payload`, which must hold nothing it takes."""
    batch = parse(payload)
    assert batch.messages == () and batch.reports == ()
    return [(item.reason, item.problem) for item in batch.ignored]


def assert_channel_off(
    settings: Settings, clock: Clock, requests: Callable[[TestClient], Iterable[Response]]
) -> None:
    """With the channel's secrets unset (in `settings`), each of `requests` answers 404
    `not_found`, and nothing lands."""
    runtime = Runtime.start(settings, clock=clock)
    try:
        with TestClient(create_app(runtime)) as off:
            for answer in requests(off):
                assert answer.status_code == 404
                assert answer.json()["error"]["code"] == "not_found"
        with runtime.db.reading() as read:
            assert table_rows(read, "touches") == []
    finally:
        runtime.close()


def snapshot(runtime: Runtime, tables: Iterable[str]) -> dict[str, list[tuple[object, ...]]]:
    with runtime.db.reading() as read:
        return {table: table_rows(read, table) for table in tables}


def receipt(answer: Response) -> dict[str, int]:
    """A webhook's 200 answer: what the delivery came to."""
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


ODD_WORDS = ["²³", "9" * 5000, "", " ", "null", "-1", "1e400"]


@lru_cache
def json_values(words: tuple[str, ...] = ()) -> st.SearchStrategy[object]:
    """Any JSON value (NaN and the infinities included: Python's json reads them),
    with strings now and then from `words`."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=12)
        | st.sampled_from([*words, *ODD_WORDS])
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=20,
    )


def shaped(template: object, words: tuple[str, ...] = ()) -> st.SearchStrategy[object]:
    """JSON shaped like `template`: dicts whose keys are there (or, written `key?`, may
    be missing), one-element lists standing for lists of any length, strategies or
    constants at the leaves; where, one time in ten, any part is anything at all."""
    inner: st.SearchStrategy[object]
    if isinstance(template, dict):
        required = {k: shaped(v, words) for k, v in template.items() if not k.endswith("?")}
        optional = {k[:-1]: shaped(v, words) for k, v in template.items() if k.endswith("?")}
        inner = st.fixed_dictionaries(required, optional=optional)
    elif isinstance(template, list):
        inner = st.lists(shaped(template[0], words), max_size=3)
    elif isinstance(template, st.SearchStrategy):
        inner = template
    else:
        inner = st.just(template)
    anything = json_values(words)
    return st.integers(0, 9).flatmap(lambda roll: inner if roll else anything)
