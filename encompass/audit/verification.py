"""Verifying the audit hash chains: streamed, and incremental from a stored checkpoint.

``verify_chain(key)`` walks one chain in sequence order with a server-side cursor (``iterator``
with ``chunk_size``), so memory stays flat whatever the chain's length; at most ``MAX_PROBLEMS``
problems are listed (``more_problems`` counts the rest).

Checkpoints (``AuditCheckpoint``, one per chain) make repeated verification cheap:

* ``since_checkpoint=True`` starts after the checkpoint: the checkpointed entry must still be
  there with the stored hash (and still hash to it), and the first newer entry must follow it.
  Entries before the checkpoint are not re-read -- that is what ``--full`` is for.
* a full walk (the default) reads every entry and also checks that the chain still passes through
  the checkpoint's hash, so even a consistent rewrite of older entries (every hash recomputed and
  the head moved) is caught.
* ``save_checkpoint=True`` stores the last entry walked as the new checkpoint, only when the walk
  found no problem.
"""

from dataclasses import dataclass, field

from django.utils import timezone

from .models import AuditChain, AuditCheckpoint, AuditEntry

GENESIS = "0" * 64
MAX_PROBLEMS = 100


@dataclass
class ChainReport:
    key: str
    entries: int = 0  # entries read by this walk
    problems: list = field(default_factory=list)
    more_problems: int = 0
    started_after: int = 0  # the checkpoint's sequence an incremental walk began after
    last_sequence: int = 0
    checkpoint_saved: bool = False

    @property
    def ok(self):
        return not self.problems

    def problem(self, text):
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1


def _anchor_problems(report, key, checkpoint):
    """Whether the checkpointed entry is still there, unchanged."""
    anchor = AuditEntry.objects.filter(chain=key, sequence=checkpoint.sequence).first()
    if anchor is None:
        when = f"{checkpoint.verified_at:%Y-%m-%d %H:%M}"
        report.problem(
            f"entry #{checkpoint.sequence} (the checkpoint of {when}) is gone (deleted entry)"
        )
    elif anchor.entry_hash != checkpoint.entry_hash or anchor.compute_hash() != anchor.entry_hash:
        report.problem(
            f"entry #{checkpoint.sequence} (id {anchor.pk}) no longer matches the checkpoint "
            "(edited entry)"
        )


def verify_chain(key, *, batch=2000, since_checkpoint=False, save_checkpoint=False):
    """Walk one chain in order; report edited, inserted, reordered or deleted entries."""
    report = ChainReport(key=key)
    checkpoint = AuditCheckpoint.objects.filter(chain=key).first()
    expected_prev, expected_seq = GENESIS, 1
    qs = AuditEntry.objects.filter(chain=key)
    if since_checkpoint and checkpoint is not None:
        _anchor_problems(report, key, checkpoint)
        expected_prev, expected_seq = checkpoint.entry_hash, checkpoint.sequence + 1
        report.started_after = checkpoint.sequence
        qs = qs.filter(sequence__gt=checkpoint.sequence)
    passed_checkpoint = checkpoint is None or report.started_after
    for entry in qs.order_by("sequence").iterator(chunk_size=batch):
        report.entries += 1
        if entry.sequence != expected_seq:
            report.problem(
                f"sequence {expected_seq} missing before {entry.sequence} (deleted entries)"
                if entry.sequence > expected_seq
                else f"sequence {entry.sequence} appears twice or out of order"
            )
            expected_seq = entry.sequence
        if entry.prev_hash != expected_prev:
            report.problem(
                f"entry #{entry.sequence} (id {entry.pk}) does not follow its predecessor "
                "(inserted or deleted entry)"
            )
        if entry.compute_hash() != entry.entry_hash:
            report.problem(f"entry #{entry.sequence} (id {entry.pk}) was edited")
        if checkpoint is not None and entry.sequence == checkpoint.sequence:
            passed_checkpoint = True
            if entry.entry_hash != checkpoint.entry_hash:
                report.problem(
                    f"entry #{entry.sequence} (id {entry.pk}) differs from the checkpoint of "
                    f"{checkpoint.verified_at:%Y-%m-%d %H:%M}: the chain was rewritten up to it"
                )
        expected_prev = entry.entry_hash
        expected_seq += 1
    if not passed_checkpoint:
        report.problem(
            f"the chain ends before its checkpoint #{checkpoint.sequence} (entries deleted)"
        )
    report.last_sequence = expected_seq - 1
    head = AuditChain.objects.filter(key=key).first()
    if head is not None and (
        head.last_sequence != report.last_sequence or head.last_hash != expected_prev
    ):
        report.problem(
            f"chain head is at #{head.last_sequence} but the entries end at "
            f"#{report.last_sequence} (entries deleted from the end)"
        )
    if save_checkpoint and report.ok and report.last_sequence > 0:
        AuditCheckpoint.objects.update_or_create(
            chain=key,
            defaults={
                "sequence": report.last_sequence,
                "entry_hash": expected_prev,
                "verified_at": timezone.now(),
                "full": not report.started_after or bool(checkpoint and checkpoint.full),
            },
        )
        report.checkpoint_saved = True
    return report


def chain_keys():
    """Every chain: those with a head and those with entries (a head may have been deleted)."""
    return sorted(
        set(AuditChain.objects.values_list("key", flat=True))
        | set(AuditEntry.objects.order_by().values_list("chain", flat=True).distinct())
    )


def verify_all(keys=None, **options):
    return [verify_chain(key, **options) for key in (chain_keys() if keys is None else keys)]
