"""accord's Celery integration."""
