"""accord's Django app: add ``"accord.contrib.django"`` to ``INSTALLED_APPS``."""
