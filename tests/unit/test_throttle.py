from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.throttle import ACCOUNT, ADDRESS, Throttle, charge, refund, wait, wait_text

T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def fail(state: Throttle, times: int, at: datetime = T0) -> Throttle:
    for _ in range(times):
        state = charge(state, at, ACCOUNT)
    return state


def test_five_failures_are_free_then_delays_double_up_to_fifteen_minutes() -> None:
    state = fail(Throttle(), 4)
    assert wait(state, T0) is None
    delays = []
    at = T0
    for _ in range(7):
        state = charge(state, at, ACCOUNT)
        delay = wait(state, at)
        assert delay is not None
        delays.append(int(delay.total_seconds() // 60))
        at += delay
    assert delays == [1, 2, 4, 8, 15, 15, 15]


def test_the_hundredth_failure_of_a_day_waits_until_the_day_is_over() -> None:
    state = Throttle(failures=99, window_start=T0)
    later = T0 + timedelta(hours=2)
    state = charge(state, later, ACCOUNT)
    assert wait(state, later) == timedelta(hours=22)
    after = T0 + timedelta(days=1)
    assert wait(state, after) is None
    assert charge(state, after, ACCOUNT).failures == 1  # a new day starts afresh


def test_a_quiet_window_forgets_the_failures() -> None:
    state = charge(Throttle(failures=19, window_start=T0), T0, ADDRESS)
    assert wait(state, T0) == ADDRESS.first_delay
    assert charge(state, T0 + ADDRESS.window, ADDRESS).failures == 1


def test_a_refund_restores_the_state_unless_someone_else_was_charged_since() -> None:
    before = fail(Throttle(), 4)
    charged = charge(before, T0, ACCOUNT)
    assert wait(charged, T0) is not None
    assert refund(before, charged, charged) == before
    other = charge(charged, T0 + timedelta(minutes=2), ACCOUNT)
    assert refund(before, charged, other) == Throttle(
        failures=other.failures - 1, window_start=other.window_start, wait_until=other.wait_until
    )


def test_waits_read_as_people_say_them() -> None:
    assert wait_text(timedelta(seconds=1)) == "1 minute"
    assert wait_text(timedelta(seconds=61)) == "2 minutes"
    assert wait_text(timedelta(minutes=119)) == "119 minutes"
    assert wait_text(timedelta(hours=22)) == "22 hours"


@given(st.lists(st.integers(min_value=0, max_value=3 * 3600), min_size=1, max_size=150))
def test_a_wait_is_never_longer_than_the_cap_except_at_the_daily_limit(gaps: list[int]) -> None:
    state, at = Throttle(), T0
    for gap in gaps:
        at += timedelta(seconds=gap)
        if wait(state, at) is not None:
            continue  # refused, not charged
        state = charge(state, at, ACCOUNT)
        delay = wait(state, at) or timedelta(0)
        if state.failures < ACCOUNT.cap:
            assert delay <= ACCOUNT.max_delay
        else:
            assert state.window_start is not None
            assert at + delay == state.window_start + ACCOUNT.window
