"""tokens.py is pure: signing, rotation, age, tampering."""

from __future__ import annotations

import pytest

from loginsvc.auth.tokens import LoginTokens, TokenExpired, TokenInvalid

KEY_A = "a" * 40
KEY_B = "b" * 40
DAY = 86400


def test_round_trip_keeps_every_field():
    t = LoginTokens([KEY_A], max_age=14 * DAY)
    token, issued = t.issue(email="Ana@Example.com", customer_id=7, now=1_000_000.123,
                            next_url="/account", locale="es")
    got = t.parse(token, now=1_000_100.0)
    assert got == issued
    assert got.email == "Ana@Example.com" and got.customer_id == 7
    assert got.next_url == "/account" and got.locale == "es"


def test_each_token_is_unique():
    t = LoginTokens([KEY_A], max_age=DAY)
    a, _ = t.issue(email="a@x.io", customer_id=None, now=1.0)
    b, _ = t.issue(email="a@x.io", customer_id=None, now=1.0)
    assert a != b


def test_expiry_boundary():
    t = LoginTokens([KEY_A], max_age=14 * DAY)
    token, _ = t.issue(email="a@x.io", customer_id=None, now=0.0)
    assert t.parse(token, now=14 * DAY).email == "a@x.io"
    with pytest.raises(TokenExpired) as info:
        t.parse(token, now=14 * DAY + 1)
    assert info.value.issued_at == 0.0


def test_rotation_first_key_signs_all_verify():
    old = LoginTokens([KEY_A], max_age=DAY)
    token_old, _ = old.issue(email="a@x.io", customer_id=None, now=10.0)
    rotated = LoginTokens([KEY_B, KEY_A], max_age=DAY)
    assert rotated.parse(token_old, now=11.0).email == "a@x.io"
    token_new, _ = rotated.issue(email="a@x.io", customer_id=None, now=10.0)
    # signed with the new key: the old-only verifier rejects it, a new-only one accepts it
    with pytest.raises(TokenInvalid):
        old.parse(token_new, now=11.0)
    assert LoginTokens([KEY_B], max_age=DAY).parse(token_new, now=11.0).email == "a@x.io"
    # dropping the old key ends the old links
    with pytest.raises(TokenInvalid):
        LoginTokens([KEY_B], max_age=DAY).parse(token_old, now=11.0)


@pytest.mark.parametrize("bad", ["", "x", "a.b", "." * 10, "é" * 20, "A" * 5000])
def test_garbage_is_invalid(bad):
    with pytest.raises(TokenInvalid):
        LoginTokens([KEY_A], max_age=DAY).parse(bad, now=1.0)


def test_tampering_is_invalid():
    t = LoginTokens([KEY_A], max_age=DAY)
    token, _ = t.issue(email="a@x.io", customer_id=1, now=1.0)
    for i in range(0, len(token), 7):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises((TokenInvalid, TokenExpired)):
            got = t.parse(flipped, now=2.0)
            assert got.customer_id == 1 and got.email == "a@x.io"  # decoded the same
            raise TokenInvalid("same payload")


def test_other_purpose_signature_is_rejected():
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer(KEY_A, salt="another-purpose").dumps(
        {"v": 1, "e": "a@x.io", "c": None, "j": "x", "t": 1000, "n": None, "l": None})
    with pytest.raises(TokenInvalid):
        LoginTokens([KEY_A], max_age=DAY).parse(forged, now=2.0)


def test_future_token_is_invalid():
    t = LoginTokens([KEY_A], max_age=DAY)
    token, _ = t.issue(email="a@x.io", customer_id=None, now=10_000.0)
    with pytest.raises(TokenInvalid):
        t.parse(token, now=1_000.0)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _low_bits_changed(token: str) -> str:
    """The same signature bytes spelled differently (base64's unused low bits set)."""
    pos = _B64.index(token[-1])
    return token[:-1] + _B64[pos ^ 1]


@pytest.mark.parametrize("spell", [
    lambda t: t + "=",
    lambda t: t + "==",
    lambda t: " " + t,
    lambda t: t + "\r\n",
    lambda t: t[:10] + " " + t[10:],
    lambda t: t[:10] + "\n" + t[10:],
    lambda t: "=" + t,
    _low_bits_changed,
    lambda t: t.swapcase(),
    lambda t: t[:5] + t[5].swapcase() + t[6:] if t[5].isalpha() else t[:5] + "A" + t[6:],
    lambda t: "." + t,
    lambda t: t.replace(".", "..", 1),
    lambda t: t + ".",
])
def test_only_the_canonical_spelling_is_a_token(spell):
    t = LoginTokens([KEY_A], max_age=DAY)
    token, _ = t.issue(email="a@x.io", customer_id=None, now=1.0)
    variant = spell(token)
    if variant == token:
        pytest.skip("identity spelling")
    with pytest.raises(TokenInvalid):
        t.parse(variant, now=2.0)


def test_the_signer_alone_forgives_these_spellings():
    """Why the strict check exists: itsdangerous accepts them (login CSRF via text/plain)."""
    from itsdangerous import URLSafeSerializer

    t = LoginTokens([KEY_A], max_age=DAY)
    token, _ = t.issue(email="a@x.io", customer_id=None, now=1.0)
    raw = URLSafeSerializer([KEY_A], salt=LoginTokens.SALT)
    for variant in (token + "=", token + "\r\n", _low_bits_changed(token)):
        assert raw.loads(variant)["e"] == "a@x.io"
    assert t.parse(token, now=2.0).email == "a@x.io"


def test_jti_given_is_the_attempt_id():
    t = LoginTokens([KEY_A], max_age=DAY)
    token, issued = t.issue(email="a@x.io", customer_id=None, now=1.0, jti="attempt-id-1")
    assert issued.jti == "attempt-id-1" and t.parse(token, now=2.0).jti == "attempt-id-1"
