"""Tests of literauth.azure."""
