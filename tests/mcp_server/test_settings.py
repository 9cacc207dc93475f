"""Settings and the clusters file: named clusters, ${ENV} interpolation, secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, UnknownCluster
from core.settings import Settings


def test_clusters_file_with_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_PW", "s3cret-value")
    path = tmp_path / "clusters.yaml"
    path.write_text(
        "default: prod\n"
        "clusters:\n"
        "  prod:\n"
        "    bootstrap_servers: k1:9093\n"
        "    profile: production\n"
        "    security_protocol: SASL_SSL\n"
        "    sasl_mechanism: SCRAM-SHA-512\n"
        "    sasl_username: ops\n"
        "    sasl_password: ${PROD_PW}\n"
        "  dev:\n"
        "    bootstrap_servers: ${DEV_BOOTSTRAP:-localhost:9092}\n",
        encoding="utf-8",
    )
    settings = Settings(clusters_file=path)
    prod = settings.cluster(None)
    assert prod.name == "prod" and prod.profile == "production"
    assert prod.librdkafka_config()["sasl.password"] == "s3cret-value"
    assert "s3cret-value" not in repr(prod) and "s3cret-value" not in str(prod.redacted())
    assert settings.cluster("dev").bootstrap_servers == "localhost:9092"
    with pytest.raises(UnknownCluster, match="dev, prod"):
        settings.cluster("staging")


def test_missing_env_variable_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("clusters:\n  a:\n    bootstrap_servers: ${SURELY_NOT_SET_123}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="SURELY_NOT_SET_123"):
        Settings(clusters_file=path).clusters()


def test_bad_clusters_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read"):
        Settings(clusters_file=tmp_path / "missing.yaml").clusters()
    path = tmp_path / "bad.yaml"
    path.write_text("clusters:\n  Bad Name:\n    bootstrap_servers: x:1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid"):
        Settings(clusters_file=path).clusters()
