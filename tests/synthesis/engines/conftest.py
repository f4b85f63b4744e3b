"""Fixtures for the GPT-SoVITS engine: tiny random models built at test time, and no internet."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import pytest

_real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex


def _local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refusing(real):
    def connect(self, address):
        if not _local(address):
            raise ConnectionRefusedError(f"outbound connection to {address!r} refused in tests")
        return real(self, address)

    return connect


@contextlib.contextmanager
def internet_refused():
    """Every outbound connection but loopback (PostgreSQL, Redis) fails, as on a machine offline."""
    socket.socket.connect, socket.socket.connect_ex = _refusing(_real_connect), _refusing(_real_connect_ex)
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = _real_connect, _real_connect_ex


@pytest.fixture(scope="session")
def tiny_gpt_sovits(tmp_path_factory):
    """Assets and two base pairs (v2ProPlus and v2), random weights in upstream formats. Their
    vocoders are narrow (128 channels where upstream's have 768 and 512): the vocoder was most
    of the time these tests took, and its width changes no code path, only the config the file
    carries. The random models speak at whatever length they happen to, so every task's audio
    is long and the vocoder's cost counts."""
    from synthesis.engines.gpt_sovits import tiny

    with internet_refused():
        return tiny.write_model_set(tmp_path_factory.mktemp("gpt-sovits"), versions=("v2ProPlus", "v2"),
                                    decoder_channels=128)  # fmt: skip


@pytest.fixture
def gpt_sovits(settings, tiny_gpt_sovits):
    """This deployment serves both engines on the tiny models, with the internet refused."""
    settings.SYNTHESIS_ENGINES = ["embedded", "gpt-sovits"]
    settings.WORKER_ENGINES = ["embedded", "gpt-sovits"]
    settings.GPT_SOVITS_ASSETS_DIR = str(tiny_gpt_sovits["assets"])
    with internet_refused():
        yield tiny_gpt_sovits
