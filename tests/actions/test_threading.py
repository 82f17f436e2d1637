"""The threading rule, as properties: whatever the cases look like, a contact never lands
on another customer's case, never continues a closed one, and reopens only within the
window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from threadline.actions.threading import CaseFacts, Continue, OpenNew, Reopen, choose_case
from threadline.vocabulary import CaseStatus

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
WINDOW = 72 * 3600.0
ME = 1


@st.composite
def cases(draw: st.DrawFn, case_id: int) -> CaseFacts:
    status = draw(st.sampled_from(list(CaseStatus)))
    resolved_at = None
    if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        resolved_at = NOW - timedelta(hours=draw(st.floats(0, 300)))
    return CaseFacts(
        id=case_id,
        customer_id=draw(st.sampled_from([ME, ME, 2])),
        status=status,
        resolved_at=resolved_at,
    )


@given(st.none() | cases(10), st.none() | cases(20), st.none() | cases(30))
def test_threading_rule(
    referenced: CaseFacts | None, open_case: CaseFacts | None, last_resolved: CaseFacts | None
) -> None:
    given_cases = {c.id: c for c in (referenced, open_case, last_resolved) if c is not None}
    decision = choose_case(
        ME,
        referenced=referenced,
        open_case=open_case,
        last_resolved=last_resolved,
        now=NOW,
        reopen_window_seconds=WINDOW,
    )
    match decision:
        case Continue(case_id):
            case = given_cases[case_id]
            assert case.customer_id == ME
            assert case.status.is_open
        case Reopen(case_id):
            case = given_cases[case_id]
            assert case.customer_id == ME
            assert case.status is CaseStatus.RESOLVED
            assert case.resolved_at is not None
            assert (NOW - case.resolved_at).total_seconds() <= WINDOW
        case OpenNew(previous):
            if previous is not None:
                assert given_cases[previous].customer_id == ME
    # An explicit reference to one's own case decides, whatever else is open.
    if referenced is not None and referenced.customer_id == ME:
        assert decision in (
            Continue(referenced.id),
            Reopen(referenced.id),
            OpenNew(previous_case_id=referenced.id),
        )
    # Without a usable reference, the customer's open case continues.
    elif open_case is not None and open_case.customer_id == ME and open_case.status.is_open:
        assert decision == Continue(open_case.id)
