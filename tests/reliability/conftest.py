"""Fault tests share the integration tests' stack fixtures."""

from tests.integration.conftest import settings, unique  # noqa: F401  # fixtures
