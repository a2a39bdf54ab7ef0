"""accord's framework-free core: it never imports Django or Celery."""
