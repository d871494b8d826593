"""Readiness against the real local servers: /readyz must be able to turn 200 here."""

from __future__ import annotations

from finsent.cli.run_cmd import dependency_checks
from finsent.config import Settings
from finsent.es import cluster_problem, make_client


def test_the_daemons_dependency_checks_pass_on_the_local_stack(settings: Settings) -> None:
    es = make_client(settings.elasticsearch)
    assert es.ping() is False, "this build answers 405 on HEAD /: ping cannot be the check"
    assert cluster_problem(es) is None
    checks = dependency_checks(settings, es)
    assert {name: check() for name, check in checks.items()} == {
        "kafka": None,
        "elasticsearch": None,
    }


def test_an_unreachable_cluster_is_named_as_the_problem(settings: Settings) -> None:
    away = settings.elasticsearch.model_copy(update={"hosts": ["http://127.0.0.1:9"]})
    problem = cluster_problem(make_client(away, request_timeout=2, max_retries=0))
    assert problem is not None and "Connection" in problem
