import pytest

from encompass.testing.oidc import OidcProvider


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    """One real OpenID Connect provider process (oidc-provider-mock) for the session."""
    with OidcProvider(tmp_path_factory.mktemp("oidc")) as provider:
        yield provider
