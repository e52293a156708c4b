"""Hostile input against a real daemon, one module per surface (see ``_cases``)."""
