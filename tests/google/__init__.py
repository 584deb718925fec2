"""Tests of literauth.google."""
