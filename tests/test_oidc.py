"""Steps from the queue carry Cloud Tasks' OIDC token: checked against Google's certificates."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from b2_iconik.auth.oidc import CannotVerify, OidcVerifier, Unauthenticated
from tests.oidc_issuer import Issuer

ACCOUNT = "b2-iconik@project.iam.gserviceaccount.com"
AUDIENCE = "https://europe-west1-project.cloudfunctions.net/iconik-handler"


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def verifier(issuer: Issuer, httpserver: HTTPServer) -> OidcVerifier:
    httpserver.expect_request("/certs").respond_with_json(issuer.certs())
    return OidcVerifier(AUDIENCE, ACCOUNT, httpserver.url_for("/certs"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_cloud_tasks_signed_for_the_account_passes(verifier, issuer, httpserver):
    verifier.verify(bearer(issuer.token(ACCOUNT, AUDIENCE)))
    verifier.verify({"authorization": f"bearer {issuer.token(ACCOUNT, AUDIENCE)}"})
    assert len(httpserver.log) == 1  # the certificates are fetched once, then kept


@pytest.mark.parametrize("claims", [
    {"aud": "https://someone-else.example/"},
    {"account": "intruder@project.iam.gserviceaccount.com"},
    {"email_verified": False},
    {"iss": "https://evil.example"},
    {"exp": 1_000, "iat": 900},
])
def test_a_token_with_wrong_claims_is_refused(verifier, issuer, claims):
    account = claims.pop("account", ACCOUNT)
    with pytest.raises(Unauthenticated):
        verifier.verify(bearer(issuer.token(account, AUDIENCE, **claims)))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "},
                                     {"Authorization": "Bearer not-a-jwt"},
                                     {"x-bz-secret": "the shared secret is not enough"}])
def test_no_token_or_a_malformed_one_is_refused(verifier, headers):
    with pytest.raises(Unauthenticated):
        verifier.verify(headers)


def test_a_token_signed_by_another_key_is_refused(verifier, issuer):
    forger = Issuer(key_id=issuer.key_id)  # the same key id, another key
    with pytest.raises(Unauthenticated):
        verifier.verify(bearer(forger.token(ACCOUNT, AUDIENCE)))


def test_certificates_that_cannot_be_fetched_mean_cannot_verify_now(issuer):
    verifier = OidcVerifier(AUDIENCE, ACCOUNT, "http://127.0.0.1:9/certs")
    with pytest.raises(CannotVerify):
        verifier.verify(bearer(issuer.token(ACCOUNT, AUDIENCE)))
