"""Tests of literauth.integrations."""
