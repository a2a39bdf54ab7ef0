"""The Celery app of a ``worker`` docs sample (see ``docs_samples.py``).

``celery -A docs_support.celery_app worker`` execs the sample's code (its
``given`` code, then the sample, addresses already replaced), read from the
file ``$DOCS_WORKER_CODE``, in a namespace named ``$DOCS_WORKER_MODULE`` as
the page's namespace is, so its tasks get the names they have in the calling
process; it serves the ``app`` that code made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_source = Path(os.environ["DOCS_WORKER_CODE"])
namespace: dict[str, Any] = {"__name__": os.environ["DOCS_WORKER_MODULE"]}
exec(compile(_source.read_text(), str(_source), "exec"), namespace)
app = namespace["app"]
