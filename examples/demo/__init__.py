"""A guided tour of accord on real servers: ``make demo`` (``python -m examples.demo``).

The tour runs the example shop (:mod:`examples.shop`) against servers it
starts itself (Redis nodes on free loopback ports, a Celery worker, and a
private PostgreSQL cluster when the machine's server cannot prepare
transactions) or finds (PostgreSQL, RabbitMQ), narrates what it does, and
stops everything it started, also on Ctrl-C. It ends with a summary line of
the parts that ran; a part that could not run says exactly why, and the tour
then exits with status 1: it never pretends.

=============  ============================================================
module         part
=============  ============================================================
``services``   starting, finding and stopping the servers
``cache``      1. RingCache over three Redis nodes: spread, failover, return
``tasks``      2. ``@singleton_task`` on a real prefork worker
``orders``     3. ``tpc.atomic`` across two databases, a killed coordinator,
               recovery
``metrics``    4. what the Prometheus plugin counted; the admin pages
``narrate``    printing: bars, progress, countdowns
=============  ============================================================
"""
