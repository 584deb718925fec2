"""Tests of literauth.aws."""
