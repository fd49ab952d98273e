"""Django system check: the configured key store can be used (an HSM token is present and
unlocked) before the platform starts issuing."""

from django.core import checks


def key_store_usable(app_configs=None, **kwargs):
    from .keystore import KeyStoreError, get_key_store

    try:
        store = get_key_store()
        if hasattr(store, "check"):
            store.check()
    except (KeyStoreError, ImportError) as exc:
        return [
            checks.Error(
                f"The CA key store cannot be used: {exc}",
                hint="Check ENCOMPASS_KEY_STORE and the ENCOMPASS_PKCS11_* settings "
                "(docs/identity.md, 'HSM over PKCS#11').",
                id="identity.E001",
            )
        ]
    return []
