"""Demo seed (runs last): load the catalogues; per organization an ETSI EN 303 645 assessment in
progress with some results set by hand (notes, a justified not-applicable, evidence), then one
run of the automated checks -- which fails for visible, fixable reasons the earlier demos left:
certificates about to expire (identity), a device type past its support period (devices),
overdue mitigations (risk), privileged members without a second factor.

Shares ``ctx.data["compliance"][org.slug]``: ``{"assessment": pk, "failing_checks": [codes]}``.
"""

from datetime import timedelta

from django.utils import timezone

from encompass.tenancy.roles import Role

from .choices import Result
from .models import Framework
from .services.assessments import create_assessment, set_result
from .services.checks import run_checks
from .services.evidence import add_evidence
from .services.loading import load_catalogue

NAME = "ETSI EN 303 645 — 2026 review"

MANUAL = [
    ("5.2-1", Result.COMPLIANT, "Disclosure policy published at /security.", ""),
    ("5.6-4", Result.PARTIALLY_COMPLIANT, "UART disabled in 2.x; older units expose it.", ""),
    ("5.8-3", Result.NOT_APPLICABLE, "", "The fleet has no sensors capturing people or sound."),
    ("5.11-1", Result.NON_COMPLIANT, "Factory reset keeps Wi-Fi credentials; fix in 3.0.", ""),
    ("5.13-1", Result.COMPLIANT, "Input validation covered by the CI fuzzing suite.", ""),
]


def seed(ctx):
    report = load_catalogue()
    ctx.log("compliance: " + "; ".join(report.lines()))
    etsi = Framework.objects.get(code="etsi-en-303-645", version="2.1.1")
    ctx.data.setdefault("compliance", {})
    for demo_org in ctx.orgs:
        org = demo_org.org
        officer = demo_org.user(Role.SECURITY_OFFICER)
        assessment = create_assessment(
            org,
            framework=etsi,
            name=NAME,
            description="Annual review of the fleet against the consumer IoT baseline.",
            owner=officer,
            actor=officer,
            start=True,
        )
        by_ref = {r.requirement.ref: r for r in assessment.results.select_related("requirement")}
        for ref, value, notes, justification in MANUAL:
            set_result(
                by_ref[ref],
                actor=officer,
                result_value=value,
                notes=notes,
                justification=justification,
                owner=officer,
            )
        add_evidence(
            org,
            actor=officer,
            title="Vulnerability disclosure policy",
            url=f"https://{org.slug}.example/security",
            requirements=[by_ref["5.2-1"].requirement],
            valid_until=timezone.now() + timedelta(days=365),
        )
        add_evidence(
            org,
            actor=demo_org.user(Role.OPERATOR),
            title="CI fuzzing report (last quarter)",
            url=f"https://ci.{org.slug}.example/fuzzing/latest",
            requirements=[by_ref["5.13-1"].requirement],
            valid_until=timezone.now() + timedelta(days=90),
        )
        runs = run_checks(org, actor=officer)
        failing = [r.check_code for r in runs if r.passed is False]
        ctx.data["compliance"][org.slug] = {"assessment": assessment.pk, "failing_checks": failing}
        ctx.log(f"{org.slug}: assessment '{NAME}', failing checks: {', '.join(failing) or 'none'}")
