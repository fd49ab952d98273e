"""Audit verification at scale: streamed in chunks, incremental from a per-chain checkpoint, and
tampering before the checkpoint still caught by ``audit_verify --full``."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from encompass.audit.models import AuditChain, AuditCheckpoint, AuditEntry
from encompass.audit.services import record_audit
from encompass.audit.verification import MAX_PROBLEMS, verify_chain

pytestmark = pytest.mark.django_db


def chain(org, count, start=0):
    for i in range(start, start + count):
        record_audit(f"test.step{i}", actor="test", organization=org, changes={"i": i})
    return str(org.pk)


def verify_command(org, *flags):
    out = io.StringIO()
    call_command("audit_verify", *flags, organization=org.slug, stdout=out)
    return out.getvalue()


def fails(org, *flags):
    with pytest.raises(CommandError, match="failed verification"):
        verify_command(org, *flags)


def entry(key, sequence):
    return AuditEntry.objects.get(chain=key, sequence=sequence)


def raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_clean_walk_stores_a_checkpoint_and_the_next_reads_only_newer_entries(world):
    key = chain(world.a.org, 10)
    out = verify_command(world.a.org)
    assert "10 entries read, ends at #10, ok" in out
    checkpoint = AuditCheckpoint.objects.get(chain=key)
    assert checkpoint.sequence == 10 and checkpoint.entry_hash == entry(key, 10).entry_hash
    assert checkpoint.full
    chain(world.a.org, 3, start=10)
    report = verify_chain(key, since_checkpoint=True)
    assert report.ok and report.entries == 3 and report.started_after == 10
    assert "3 entries read after checkpoint #10" in verify_command(world.a.org)
    assert AuditCheckpoint.objects.get(chain=key).sequence == 13


def test_streaming_in_small_chunks_gives_the_same_answer(world):
    key = chain(world.a.org, 11)
    report = verify_chain(key, batch=3)
    assert report.ok and report.entries == 11 and report.last_sequence == 11
    raw("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry(key, 7).pk])
    report = verify_chain(key, batch=3)
    assert report.problems == [f"entry #7 (id {entry(key, 7).pk}) was edited"]


def test_edit_before_the_checkpoint_is_caught_by_a_full_walk(world):
    key = chain(world.a.org, 8)
    verify_command(world.a.org)
    raw("UPDATE audit_auditentry SET actor_label = 'mallory' WHERE id = %s", [entry(key, 3).pk])
    # The incremental walk does not re-read old entries (that is what makes it fast) ...
    assert verify_chain(key, since_checkpoint=True).ok
    # ... the full one does.
    report = verify_chain(key)
    assert any("#3" in p and "was edited" in p for p in report.problems)
    fails(world.a.org, "--full")
    assert AuditCheckpoint.objects.get(chain=key).sequence == 8  # never moved by a failed walk


def test_deleted_row_before_the_checkpoint_is_caught_by_a_full_walk(world):
    key = chain(world.a.org, 8)
    verify_command(world.a.org)
    raw("DELETE FROM audit_auditentry WHERE id = %s", [entry(key, 4).pk])
    report = verify_chain(key)
    assert any("sequence 4 missing" in p for p in report.problems)
    fails(world.a.org, "--full")


def test_a_consistent_rewrite_before_the_checkpoint_is_caught_against_it(world):
    """An attacker with database access edits #2 and recomputes every later hash and the head:
    the chain is self-consistent again, but no longer passes through the checkpoint."""
    key = chain(world.a.org, 6)
    verify_command(world.a.org)
    raw("UPDATE audit_auditentry SET actor_label = 'mallory' WHERE id = %s", [entry(key, 2).pk])
    prev = entry(key, 1).entry_hash
    for seq in range(2, 7):
        row = entry(key, seq)
        row.prev_hash = prev
        new_hash = row.compute_hash()
        raw(
            "UPDATE audit_auditentry SET prev_hash = %s, entry_hash = %s WHERE id = %s",
            [prev, new_hash, row.pk],
        )
        prev = new_hash
    AuditChain.objects.filter(key=key).update(last_hash=prev)
    checkpoint = AuditCheckpoint.objects.get(chain=key)
    AuditCheckpoint.objects.filter(chain=key).delete()
    assert verify_chain(key).ok  # without the checkpoint the rewrite is invisible
    checkpoint.save()
    report = verify_chain(key)
    assert any("differs from the checkpoint" in p for p in report.problems)
    assert not verify_chain(key, since_checkpoint=True).ok  # the anchor moved too


def test_tampering_with_the_checkpointed_entry_or_after_it_is_caught_incrementally(world):
    key = chain(world.a.org, 5)
    verify_command(world.a.org)
    raw("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry(key, 5).pk])
    report = verify_chain(key, since_checkpoint=True)
    assert any("no longer matches the checkpoint" in p for p in report.problems)
    fails(world.a.org)
    raw("UPDATE audit_auditentry SET action = 'test.step4' WHERE id = %s", [entry(key, 5).pk])
    assert verify_chain(key, since_checkpoint=True).ok
    chain(world.a.org, 3, start=5)
    raw("DELETE FROM audit_auditentry WHERE id = %s", [entry(key, 7).pk])
    assert any("missing" in p for p in verify_chain(key, since_checkpoint=True).problems)
    raw("DELETE FROM audit_auditentry WHERE id = %s", [entry(key, 5).pk])
    assert any("is gone" in p for p in verify_chain(key, since_checkpoint=True).problems)


def test_the_problem_list_is_bounded(world):
    key = chain(world.a.org, MAX_PROBLEMS + 20)
    raw("UPDATE audit_auditentry SET action = 'x' WHERE chain = %s", [key])
    report = verify_chain(key)
    assert len(report.problems) == MAX_PROBLEMS and report.more_problems == 20
    assert "... and 20 more problems" in _failed_output(world.a.org)


def _failed_output(org):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_verify", "--full", organization=org.slug, stdout=out)
    return out.getvalue()
