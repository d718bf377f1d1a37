"""TLS: verification is on, a private CA works through --ca-bundle, never silently off."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pluginmgr import NetworkError, PluginManager, Settings
from pluginmgr.testing import RepoServer, reply
from tests.conftest import WAL_PATH, WAL_PLUGIN


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def https_server(repo_root: Path, certificate: tuple[Path, Path]) -> Iterator[RepoServer]:
    with RepoServer(repo_root, tls=certificate) as server:
        yield server


def test_untrusted_certificate_is_refused_with_a_hint(
    make_settings: Callable[..., Settings], https_server: RepoServer
) -> None:
    with PluginManager(make_settings(plugin_repo=https_server.url)) as mgr:
        with pytest.raises(NetworkError) as info:
            mgr.fetch(WAL_PLUGIN)
    message = str(info.value)
    assert message.startswith("error getting plugin from repository: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "pass --ca-bundle with your CA's PEM file" in message


def test_ca_bundle_trusts_a_private_ca(
    make_settings: Callable[..., Settings],
    https_server: RepoServer,
    certificate: tuple[Path, Path],
) -> None:
    settings = make_settings(plugin_repo=https_server.url, ca_bundle=certificate[0])
    with PluginManager(settings) as mgr:
        plugin = mgr.fetch(WAL_PLUGIN)
    assert plugin.source.startswith("https://127.0.0.1:")
    assert plugin.origin == "downloaded"


def test_redirect_from_plain_http_to_https_is_still_verified(
    make_settings: Callable[..., Settings],
    https_server: RepoServer,
    repo_server: RepoServer,
    certificate: tuple[Path, Path],
) -> None:
    # plain http builds no TLS context; the https hop after the redirect must still verify
    target = https_server.url + WAL_PATH
    repo_server.overrides["/moved.py"] = lambda h: reply(h, 301, headers={"Location": target})
    with PluginManager(make_settings()) as mgr:
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            mgr.fetch("gh:moved.py")
    with PluginManager(make_settings(ca_bundle=certificate[0])) as mgr:
        assert (
            mgr.fetch("gh:moved.py").path.read_bytes()
            == (https_server.root / WAL_PATH).read_bytes()
        )
