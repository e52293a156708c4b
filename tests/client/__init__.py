"""Tests of service.client."""
