"""Tests of literauth.cli."""
