"""OIDC_PROVIDERS and OIDC_<NAME>_* are read once, with presets and one-line refusals."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from loginsvc.config.default import _oidc_providers


def test_presets_know_their_issuer_and_label():
    got = _oidc_providers({"OIDC_PROVIDERS": "Google, microsoft", "OIDC_GOOGLE_CLIENT_ID": "g",
                           "OIDC_GOOGLE_CLIENT_SECRET": "s", "OIDC_MICROSOFT_CLIENT_ID": "m"})
    assert [(p.name, p.issuer, p.label) for p in got] == [
        ("google", "https://accounts.google.com", "Google"),
        ("microsoft",
         "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
         "Microsoft"),
    ]


def test_any_other_provider_by_issuer_with_its_label():
    (p,) = _oidc_providers({"OIDC_PROVIDERS": "shopid", "OIDC_SHOPID_ISSUER": "https://id.example/",
                            "OIDC_SHOPID_CLIENT_ID": "c", "OIDC_SHOPID_LABEL": "Shop ID"})
    assert (p.issuer, p.label, p.client_id) == ("https://id.example", "Shop ID", "c")


def test_unknown_provider_without_issuer_refuses_to_start():
    with pytest.raises(SystemExit, match="OIDC_SHOPID_ISSUER"):
        _oidc_providers({"OIDC_PROVIDERS": "shopid", "OIDC_SHOPID_CLIENT_ID": "c"})


def test_missing_client_id_refuses_to_start():
    with pytest.raises(SystemExit, match="OIDC_GOOGLE_CLIENT_ID"):
        _oidc_providers({"OIDC_PROVIDERS": "google"})


def test_apple_needs_its_key_for_the_client_secret():
    with pytest.raises(SystemExit, match="OIDC_APPLE_TEAM_ID"):
        _oidc_providers({"OIDC_PROVIDERS": "apple", "OIDC_APPLE_CLIENT_ID": "shop.example.web"})


def test_apple_client_secret_is_an_es256_jwt_from_the_team_key():
    from loginsvc.auth.oidc_client import _client_secret

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    (p,) = _oidc_providers({"OIDC_PROVIDERS": "apple", "OIDC_APPLE_CLIENT_ID": "shop.example.web",
                            "OIDC_APPLE_TEAM_ID": "TEAM123", "OIDC_APPLE_KEY_ID": "KEY456",
                            "OIDC_APPLE_PRIVATE_KEY": pem.replace("\n", "\\n")})
    secret = _client_secret(p, 1_800_000_000)
    public = ECKey.import_key(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    token = jwt.decode(secret, public, algorithms=["ES256"])
    assert token.header["kid"] == "KEY456"
    assert token.claims == {"iss": "TEAM123", "iat": 1_800_000_000, "exp": 1_800_000_300,
                            "aud": "https://appleid.apple.com", "sub": "shop.example.web"}
