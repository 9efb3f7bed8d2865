"""The one admission policy (auth/admission.py), apart from HTTP and the database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from loginsvc.auth.admission import Admitted, Refused, admit

WAYS = ("link", "sso", "order", "admin")
MODES = ("disabled", "optional", "required")


@dataclass
class Known:
    status: str = "active"
    has_account: bool = True


GUEST = Known(has_account=False)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("has_account", [True, False])
def test_blocked_never_comes_in(way, mode, has_account):
    decision = admit(way=way, mode=mode, customer=Known("blocked", has_account))
    assert isinstance(decision, Refused) and decision.code == "account_blocked"
    assert decision.error().status == 403 and decision.error().code == "account_blocked"


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("customer", [None, GUEST, Known()])
def test_disabled_lets_nobody_in(way, customer):
    decision = admit(way=way, mode="disabled", customer=customer)
    assert isinstance(decision, Refused) and decision.code == "accounts_disabled"


@pytest.mark.parametrize("way", ["link", "sso"])
@pytest.mark.parametrize("mode", ["optional", "required"])
def test_a_pending_account_does_not_sign_in(way, mode):
    decision = admit(way=way, mode=mode, customer=Known("pending"))
    assert isinstance(decision, Refused) and decision.code == "account_pending"


@pytest.mark.parametrize("way", ["order", "admin"])
def test_a_pending_account_still_takes_orders_and_owner_edits(way):
    assert admit(way=way, mode="optional", customer=Known("pending")) == Admitted(False, "pending")


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", ["optional", "required"])
def test_an_active_account_comes_in_and_opens_nothing(way, mode):
    decision = admit(way=way, mode=mode, customer=Known())
    assert decision == Admitted(False, "active") and decision.signs_in


@pytest.mark.parametrize("way", ["link", "sso", "order"])
@pytest.mark.parametrize("customer", [None, GUEST])
def test_a_new_address_opens_an_account_active_or_for_approval(way, customer):
    assert admit(way=way, mode="optional", customer=customer) == Admitted(True, "active")
    pending = admit(way=way, mode="required", customer=customer)
    assert pending == Admitted(True, "pending") and not pending.signs_in


def test_a_guest_record_the_owner_marked_pending_opens_pending_in_optional_mode():
    decision = admit(way="link", mode="optional", customer=Known("pending", False))
    assert decision == Admitted(True, "pending")


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_the_owner_vouches_for_whom_they_create(mode):
    assert admit(way="admin", mode=mode, customer=None) == Admitted(True, "active")
