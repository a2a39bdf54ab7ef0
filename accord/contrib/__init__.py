"""Adapters for the frameworks users touch: Django and Celery."""
