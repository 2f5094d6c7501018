"""TLS + token off loopback, and the refusal to listen on a LAN address without them."""
import subprocess
import sys

import numpy as np
import pytest

from colorgrade.clients import GradeClient, GradeError
from daemon_fixtures import RunningDaemon


def test_lan_address_without_tls_is_refused():
    result = subprocess.run([sys.executable, "-m", "colorgrade", "serve", "--host", "0.0.0.0", "--untrained-models"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--tls-cert" in result.stderr


def test_tls_and_token(tls_files):
    daemon = RunningDaemon("--host", "0.0.0.0", "--port", "0", "--untrained-models",
                           "--tls-cert", str(tls_files / "cert.pem"), "--tls-key", str(tls_files / "key.pem"),
                           "--token-file", str(tls_files / "token"))
    try:
        port = daemon.address.rsplit(":", 1)[1]
        target = f"localhost:{port}"
        with GradeClient(target, tls=str(tls_files / "cert.pem"), token="s3cret-token") as client:
            assert client.info().models[0].name == "analysis"
            clip = client.open_clip(window_radius=0)
            assert len(list(client.stream(clip, [np.zeros((8, 8, 3), np.uint8)]))) == 1
        for token in ("wrong", None):
            with GradeClient(target, tls=str(tls_files / "cert.pem"), token=token) as client:
                with pytest.raises(GradeError, match="UNAUTHENTICATED"):
                    client.info()
                with pytest.raises(GradeError, match="UNAUTHENTICATED"):
                    list(client.stream("x", [np.zeros((8, 8, 3), np.uint8)]))
        with GradeClient(target, token="s3cret-token", timeout=5) as plaintext:  # no TLS: no connection at all
            with pytest.raises(GradeError, match="UNAVAILABLE"):
                plaintext.info()
    finally:
        daemon.stop()


def test_plaintext_only_on_a_private_address_behind_a_proxy():
    """--private-network (TLS ended at Envoy, daemons on a private network): a private address with a token
    is allowed; every interface, a public address or no token is refused with the reason."""
    from colorgrade.server.daemon import ConfigurationError, DaemonConfig, check_security

    check_security(DaemonConfig(host="10.1.2.3", private_network=True, token="t"))
    check_security(DaemonConfig(host="fd00::7", private_network=True, token="t"))
    for host, token, words in (("0.0.0.0", "t", "not a private address"), ("8.8.8.8", "t", "not a private address"),
                               ("192.168.1.20", None, "still needs --token-file")):
        with pytest.raises(ConfigurationError, match=words):
            check_security(DaemonConfig(host=host, private_network=True, token=token))
    with pytest.raises(ConfigurationError, match="--private-network and --token-file"):
        check_security(DaemonConfig(host="10.1.2.3", token="t"))
