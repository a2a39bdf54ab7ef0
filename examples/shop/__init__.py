"""A small shop built on accord: the example project behind ``make demo``.

Orders live in one database and the ledger in another, written together by
``tpc.atomic``; the cache is a RingCache over three Redis nodes; statements
are rebuilt by a Celery ``@singleton_task``; and :mod:`examples.shop.plugin`
is a third-party-style accord plugin that counts events.

Run it by hand with ``python -m examples.shop.manage <command>`` (settings in
:mod:`examples.shop.settings`, all taken from ``SHOP_*`` environment
variables) and ``celery -A examples.shop.celery_app worker``.
"""
