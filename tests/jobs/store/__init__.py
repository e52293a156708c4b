"""Tests of service.jobs.store."""
