"""Compliance requirement references ("framework:ref") checked against the shipped catalogues.

The compliance app loads its catalogues into its own models; mitigations store the references as
text so they stay valid whichever way those models evolve, and are validated here against the
shipped catalogues as ``compliance.catalogues.assessable_requirements()`` gives them.
"""

from compliance.catalogues import assessable_requirements


def catalogue():
    """``{framework_code: {ref: title}}`` of assessable requirements in the shipped catalogues."""
    return assessable_requirements()


def requirement_ref_errors(refs):
    """A list of messages, one per bad reference (empty when all are known)."""
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        return ['Give a list of "framework:ref" strings.']
    known = catalogue()
    errors = []
    for ref in refs:
        framework, sep, item = ref.partition(":")
        if not sep or not item:
            errors.append(f'{ref!r}: write it as "framework:ref", e.g. "etsi-en-303-645:5.3-2".')
        elif framework not in known:
            errors.append(f"{ref!r}: unknown framework {framework!r} ({', '.join(sorted(known))}).")
        elif item not in known[framework]:
            errors.append(f"{ref!r}: {framework} has no assessable requirement {item!r}.")
    if len(set(refs)) != len(refs):
        errors.append("Each requirement is listed once.")
    return errors


def requirement_title(ref):
    framework, _, item = ref.partition(":")
    return catalogue().get(framework, {}).get(item, "")
