"""Signals other apps may connect to, sent by the identity services.

* ``crl_published(sender=CertificateAuthority, authority_id=<pk>)``: sent **after the commit** of
  every new CRL of a CA (a revocation, a hold or its release, a new CA, the periodic re-sign), so
  relying parties that keep a copy of the CRLs (the MQTT broker) can refresh it. Receivers run
  with ``send_robust``: a failing one is logged and never undoes the revocation.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

crl_published = Signal()


def send_crl_published(authority_id):
    from .models import CertificateAuthority

    for receiver, result in crl_published.send_robust(
        sender=CertificateAuthority, authority_id=authority_id
    ):
        if isinstance(result, Exception):
            logger.error(
                "crl_published receiver %r failed for CA %s",
                receiver,
                authority_id,
                exc_info=result,
            )
