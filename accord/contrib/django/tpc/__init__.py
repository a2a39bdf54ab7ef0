"""Two-phase commit across Django databases.

Failure behaviour first: see :func:`atomic` (what a block raises when),
:func:`recover` (reports, never raises per branch), :func:`outcome`,
:func:`in_doubt` (the in-doubt report) and :func:`decide` (an operator's
heuristic decision, refused against a contradicting one).

::

    from accord.contrib.django import tpc

    with tpc.atomic("default", "ledger"):          # also usable as a decorator
        Order.objects.create(...)
        Entry.objects.using("ledger").create(...)

Either every write in the block commits on every database, or none does.
Add ``"accord.contrib.django"`` to ``INSTALLED_APPS`` and migrate the
decision-log database; run :func:`recover` regularly (``manage.py
accord_recover --watch``). Settings: :mod:`accord.contrib.django.tpc.config`.
"""

from accord.contrib.django.tpc.atomic import atomic
from accord.contrib.django.tpc.recovery import (
    DjangoRecoveryReport,
    decide,
    in_doubt,
    outcome,
    recover,
)

__all__ = ["DjangoRecoveryReport", "atomic", "decide", "in_doubt", "outcome", "recover"]
