"""Encompass: run an IoT fleet securely for its whole life."""
