"""The handover's rule table (H1, H5, H8, H9, H11): every step × who × progress."""

from datetime import UTC, datetime, timedelta

import pytest

from dutypwa.handover_rules import ORDER, TAKER, State, lateness, needed, next_step, refusal

WHO = ("incoming", "outgoing", "supervisor", "other")
START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def upto(step: str, state: State | None = None) -> State:
    """A handover with every step before `step` done."""
    state = state or State()
    steps = needed(state)
    return State(
        done=frozenset(steps[: steps.index(step)]),
        has_outgoing=state.has_outgoing,
        blocked=state.blocked,
        overridden=state.overridden,
    )


@pytest.fixture(autouse=True)
def _request_context(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.mark.parametrize("step", ORDER[1:])
@pytest.mark.parametrize("who", WHO)
def test_each_step_is_taken_in_order_by_its_person(step, who):
    """The steps in order, each by the person the regulations name."""
    allowed = refusal(upto(step), step, who) is None
    assert allowed == (who == TAKER[step])


@pytest.mark.parametrize("step", ORDER[2:-1])
def test_a_step_out_of_order_is_refused(step):
    state = upto(step)
    skipped = State(done=state.done - {ORDER[ORDER.index(step) - 1]})
    assert "in order" in refusal(skipped, step, TAKER[step])


def test_h8_outgoing_cannot_sign_before_the_relief():
    """H8: the outgoing person may leave only after both signed: they sign last."""
    state = State(done=frozenset(ORDER[:5]))
    assert "relief signs first" in refusal(state, "sign_outgoing", "outgoing")
    assert refusal(state, "sign_incoming", "incoming") is None
    signed_in = State(done=frozenset(ORDER[:6]))
    assert refusal(signed_in, "sign_outgoing", "outgoing") is None
    assert next_step(signed_in) == "sign_outgoing"


def test_h5_nothing_changes_after_the_relief_signed():
    signed_in = State(done=frozenset(ORDER[:6]))
    for step in ("inventory", "log_review", "area_check", "summary"):
        assert "can no longer be changed" in refusal(signed_in, step, TAKER[step])
    assert "no longer be cancelled" in refusal(signed_in, "cancel", "incoming")


def test_h9_important_open_work_blocks_both_signatures_until_a_supervisor_overrides():
    blocked = upto("sign_incoming", State(blocked=True))
    assert "Important work is not finished" in refusal(blocked, "sign_incoming", "incoming")
    assert "Only a supervisor" in refusal(blocked, "override", "incoming")
    assert refusal(blocked, "override", "supervisor") is None
    overridden = upto("sign_incoming", State(blocked=True, overridden=True))
    assert refusal(overridden, "sign_incoming", "incoming") is None
    assert "already let it pass" in refusal(overridden, "override", "supervisor")
    assert "Nothing blocks" in refusal(upto("sign_incoming"), "override", "supervisor")


def test_a_post_nobody_held_needs_no_summary_and_one_signature():
    empty = State(has_outgoing=False)
    assert "summary" not in needed(empty) and "sign_outgoing" not in needed(empty)
    assert refusal(upto("sign_incoming", empty), "sign_incoming", "incoming") is None
    checked = State(has_outgoing=False, done=frozenset(ORDER[:4]))
    assert "no outgoing person" in refusal(checked, "summary", "outgoing")


@pytest.mark.parametrize("status", ["signed", "cancelled"])
@pytest.mark.parametrize("step", [*ORDER, "override", "cancel"])
def test_a_closed_handover_takes_no_step(status, step):
    assert refusal(State(status=status, done=frozenset(ORDER)), step, TAKER[step]) is not None


def test_cancel_by_the_two_or_a_supervisor_only():
    state = upto("summary")
    assert [refusal(state, "cancel", who) is None for who in WHO] == [True, True, True, False]


def test_unknown_step_is_refused():
    assert refusal(State(), "sign_both", "incoming") == "That is not a step of a handover."


@pytest.mark.parametrize(
    ("arrived", "expected"),
    [
        (START - timedelta(minutes=20), (True, 0)),
        (START - timedelta(minutes=5), (True, 0)),
        (START - timedelta(minutes=4, seconds=30), (False, 1)),
        (START, (False, 5)),
        (START + timedelta(minutes=40), (False, 45)),
    ],
)
def test_h1_on_time_is_five_minutes_early_and_h11_counts_the_rest_as_lateness(arrived, expected):
    assert lateness(arrived, START) == expected
