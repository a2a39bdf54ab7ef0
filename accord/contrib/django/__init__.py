"""accord's Django app: add ``"accord.contrib.django"`` to ``INSTALLED_APPS``.

Importing it (or anything under it) without Django installed raises
:class:`~accord.core.errors.MissingDependency` naming ``accord[django]``.
"""

from accord.core.optional import import_optional

import_optional("django", extra="django", purpose="Django integrations (accord.contrib.django)")
