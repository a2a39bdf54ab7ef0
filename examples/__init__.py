"""Examples of accord in use; ``python -m examples.demo`` runs the guided tour."""
