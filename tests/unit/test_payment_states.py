"""The transition tables: every legal move is accepted, every other pair is refused."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from app.domain.payment_states import (
    FINAL,
    PAYMENTS,
    REFUNDS,
    SETTLED,
    UNRESOLVED,
    IllegalTransition,
    StateMachine,
    refund_transition,
    transition,
)

LEGAL_PAYMENT_MOVES = {
    ("pending", "pending"),
    ("pending", "unknown"),
    ("pending", "succeeded"),
    ("pending", "failed"),
    ("unknown", "pending"),
    ("unknown", "succeeded"),
    ("unknown", "failed"),
    ("failed", "succeeded"),
    ("succeeded", "partially_refunded"),
    ("succeeded", "refunded"),
    ("partially_refunded", "partially_refunded"),
    ("partially_refunded", "refunded"),
}
LEGAL_REFUND_MOVES = {("pending", "succeeded"), ("pending", "failed")}


def _pairs(machine: StateMachine) -> list[tuple[str, str]]:
    return [(a, b) for a, b in itertools.product(machine.states, machine.states)]


def test_the_tables_name_every_status_the_code_writes() -> None:
    assert set(PAYMENTS.states) == {*UNRESOLVED, *FINAL}
    assert set(REFUNDS.states) == {"pending", "succeeded", "failed"}
    assert PAYMENTS.start == REFUNDS.start == "pending"


@pytest.mark.parametrize(("current", "new"), sorted(LEGAL_PAYMENT_MOVES))
def test_every_legal_payment_move_is_accepted(current: str, new: str) -> None:
    assert transition(current, new) == new and PAYMENTS.allows(current, new)


@pytest.mark.parametrize(
    ("current", "new"), [p for p in _pairs(PAYMENTS) if p not in LEGAL_PAYMENT_MOVES]
)
def test_every_other_payment_move_is_refused_with_a_clear_error(current: str, new: str) -> None:
    assert not PAYMENTS.allows(current, new)
    with pytest.raises(IllegalTransition) as err:
        transition(current, new)
    assert f"a payment cannot go from {current!r} to {new!r}" in str(err.value)


@pytest.mark.parametrize(("current", "new"), sorted(LEGAL_REFUND_MOVES))
def test_every_legal_refund_move_is_accepted(current: str, new: str) -> None:
    assert refund_transition(current, new) == new


@pytest.mark.parametrize(
    ("current", "new"), [p for p in _pairs(REFUNDS) if p not in LEGAL_REFUND_MOVES]
)
def test_every_other_refund_move_is_refused_with_a_clear_error(current: str, new: str) -> None:
    with pytest.raises(IllegalTransition) as err:
        refund_transition(current, new)
    assert f"a refund cannot go from {current!r} to {new!r}" in str(err.value)


def test_the_error_says_where_the_status_may_go_instead() -> None:
    with pytest.raises(IllegalTransition, match="may go to: partially_refunded, refunded"):
        transition("succeeded", "failed")
    with pytest.raises(IllegalTransition, match=r"nothing \(it is final\)"):
        transition("refunded", "pending")


@pytest.mark.parametrize("bad", ["requires_action", "processing", "", "paid"])
def test_a_status_outside_the_table_is_refused(bad: str) -> None:
    with pytest.raises(IllegalTransition, match="no such status"):
        transition("pending", bad)
    with pytest.raises(IllegalTransition, match="no such status"):
        transition(bad, "succeeded")


def test_a_conditional_update_waits_only_on_the_states_the_move_is_legal_from() -> None:
    assert set(PAYMENTS.sources("unknown")) == {"pending"}
    assert set(PAYMENTS.sources("pending")) == set(UNRESOLVED)
    assert set(PAYMENTS.sources("failed")) == set(UNRESOLVED)
    assert set(PAYMENTS.sources("succeeded")) == {*UNRESOLVED, "failed"}
    assert not set(PAYMENTS.sources("succeeded")) & set(SETTLED)  # a replay changes nothing
    for machine in (PAYMENTS, REFUNDS):
        for new in machine.states:
            assert set(machine.sources(new)) == {
                s for s in machine.states if machine.allows(s, new)
            }


# -- one writer: no module outside the payment core and the domain writes a status -------------

APP = Path(__file__).resolve().parents[2] / "app"
CORE = (APP / "services" / "payments", APP / "domain")
# The demo seed inserts a finished history (succeeded payments) as it was; it moves nothing.
SEED = APP / "store" / "seed.py"


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that write a payment's or refund's status: update(Payment|Refund), a
    Payment(…status=…) / Refund(…status=…) row, or `<payment|refund…>.status = …`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            named = [a.id for a in node.args if isinstance(a, ast.Name)]
            if node.func.id == "update" and {"Payment", "Refund"} & set(named):
                lines.append(node.lineno)
            if node.func.id in ("Payment", "Refund") and any(
                k.arg == "status" for k in node.keywords
            ):
                lines.append(node.lineno)
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for el in t.elts if isinstance(t, ast.Tuple) else [t]:
                    if (
                        isinstance(el, ast.Attribute)
                        and el.attr == "status"
                        and isinstance(el.value, ast.Name)
                        and ("payment" in el.value.id or "refund" in el.value.id)
                    ):
                        lines.append(node.lineno)
    return sorted(lines)


def test_only_the_payment_core_writes_a_payment_or_refund_status() -> None:
    found = {
        f"{path.relative_to(APP.parent)}:{line}"
        for path in APP.rglob("*.py")
        if not any(path.is_relative_to(core) for core in CORE) and path != SEED
        for line in _status_writes(ast.parse(path.read_text()))
    }
    assert not found, f"status written outside app/services/payments: {sorted(found)}"


def test_the_scan_sees_each_kind_of_status_write() -> None:
    source = (
        "update(Payment).values(status='x')\n"
        "Refund(status='pending')\n"
        "payment.status = 'failed'\n"
        "row, refund.status = 1, 'succeeded'\n"
        "link.status = 'paid'\n"
    )
    assert _status_writes(ast.parse(source)) == [1, 2, 3, 4]
    inside = _status_writes(ast.parse((APP / "services" / "payments" / "status.py").read_text()))
    assert inside  # the one writer is seen, and allowed
