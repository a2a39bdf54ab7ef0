"""Django management commands of accord."""
