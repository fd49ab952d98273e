"""mozilla-django-oidc's authorization-code backend, configured per organization.

The library reads its endpoints and client from settings; here they come from the
organization's :class:`~encompass.sso.models.IdentityProvider`, which the callback view puts on
the request (``request.encompass_sso_provider``). On top of the library's checks (signature
against the provider's JWKS, nonce, expiry) the ID token's ``iss`` must be the configured issuer
and its ``aud`` must hold our client id (the library leaves both unchecked).
"""

from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from . import providers, services

CALLBACK_URL_NAME = "sso:callback"


def provider_settings(provider):
    """The mozilla-django-oidc settings of one organization's provider."""
    return {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": provider.authorization_endpoint,
        "OIDC_OP_TOKEN_ENDPOINT": provider.token_endpoint,
        "OIDC_OP_USER_ENDPOINT": provider.userinfo_endpoint,
        "OIDC_OP_JWKS_ENDPOINT": provider.jwks_uri,
        "OIDC_RP_CLIENT_ID": provider.client_id,
        "OIDC_RP_SIGN_ALGO": provider.signing_algorithm,
        "OIDC_RP_SCOPES": provider.scopes,
        "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_TIMEOUT": providers.HTTP_TIMEOUT,
        # client_secret_basic: the method every provider must support (OIDC Core 9).
        "OIDC_TOKEN_USE_BASIC_AUTH": True,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_CREATE_USER": True,
        "OIDC_VERIFY_KID": True,
    }


class ProviderSettingsMixin:
    """``get_settings`` answers from the organization's provider, then from Django settings."""

    provider = None

    def get_settings(self, attr, *args):
        if self.provider is not None:
            values = provider_settings(self.provider)
            if attr == "OIDC_RP_CLIENT_SECRET":
                return providers.client_secret_of(self.provider)
            if attr in values:
                return values[attr]
        return import_from_settings(attr, *args)


class OrganizationOIDCBackend(ProviderSettingsMixin, OIDCAuthenticationBackend):
    """Signs in through the provider the callback named; ``None`` for every other credential."""

    def __init__(self, *args, **kwargs):
        from django.contrib.auth import get_user_model

        # The library reads its settings here; ours exist only once the provider is known.
        self.UserModel = get_user_model()
        self.provider = None

    @classmethod
    def for_provider(cls, provider):
        backend = cls()
        backend._configure(provider)
        return backend

    def _configure(self, provider):
        self.provider = provider
        self.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = provider.client_id
        self.OIDC_RP_CLIENT_SECRET = providers.client_secret_of(provider)
        self.OIDC_RP_SIGN_ALGO = provider.signing_algorithm
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        provider = getattr(request, "encompass_sso_provider", None) if request else None
        if provider is None or "nonce" not in kwargs:
            return None  # a password sign-in, or a request that did not come through the callback
        self._configure(provider)
        self._token_info = {}
        return super().authenticate(request, **kwargs)

    def get_token(self, payload):
        self._token_info = super().get_token(payload)
        return self._token_info

    def retrieve_matching_jwk(self, token):
        """The provider's key for ``token``: by ``kid``; a token without one (allowed by JWS)
        only when the key set holds exactly one key for its algorithm."""
        import jwt
        import requests

        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=providers.HTTP_TIMEOUT)
        response.raise_for_status()
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        keys = [k for k in response.json().get("keys", []) if k.get("alg") in (None, alg)]
        keys = [k for k in keys if k.get("use") in (None, "sig")]
        if "kid" in header:
            keys = [k for k in keys if k.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SuspiciousOperation("No single key of the provider's key set matches the token.")
        return jwt.PyJWK(keys[0])

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        self._check_issuer_and_audience(payload)
        return payload

    def verify_id_token(self, token):
        """A refreshed ID token: signature, expiry, issuer and audience (no nonce on refresh)."""
        key = self.retrieve_matching_jwk(token)
        payload = self._verify_jws(token, key)
        self._check_issuer_and_audience(payload)
        return payload

    def _check_issuer_and_audience(self, payload):
        if str(payload.get("iss", "")).rstrip("/") != self.provider.issuer.rstrip("/"):
            raise SuspiciousOperation("The ID token was issued by another issuer.")
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else list(audience or [])
        if self.provider.client_id not in audience:
            raise SuspiciousOperation("The ID token was issued for another client.")
        if payload.get("azp") and payload["azp"] != self.provider.client_id:
            raise SuspiciousOperation("The ID token names another authorized party.")

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims (where ``amr``/``acr`` live), completed by userinfo."""
        claims = dict(payload)
        if self.provider.userinfo_endpoint:
            info = super().get_userinfo(access_token, id_token, payload)
            if str(info.get("sub")) != str(payload.get("sub")):
                raise SuspiciousOperation("userinfo answered for another subject.")
            claims.update({k: v for k, v in info.items() if k not in ("amr", "acr")})
        return claims

    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            raise SuspiciousOperation("Claims verification failed")
        result = services.sign_in_with_claims(
            self.provider, claims, refresh_token=self._token_info.get("refresh_token")
        )
        self.request.encompass_sso_result = result
        if result.refused:
            return None
        return result.user

    def get_user(self, user_id):
        user = self.UserModel.objects.filter(pk=user_id, is_active=True).first()
        return user
