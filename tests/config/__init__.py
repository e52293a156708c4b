"""Tests of service.config."""
