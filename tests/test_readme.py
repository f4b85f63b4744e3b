"""The README's Quick start, run as written against a fresh `make run` stack: it must end
with a playable file. Only two things differ from a person's shell: the stack is already
running (its `make run` line is skipped) and listens on a port of its own (the `URL=` line)."""

from __future__ import annotations

import re
import subprocess

import pytest
import soundfile as sf

from deploy.sandbox import ROOT, live_stack
from tests.conftest import speech_seconds

pytestmark = pytest.mark.stack


def quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_quick_start_ends_with_a_playable_file(tmp_path):
    block = quick_start()
    assert block.startswith("make run")
    assert "URL=http://127.0.0.1:8000\n" in block
    with live_stack(tmp_path) as live:
        script = block.replace("make run", "# make run (already running)", 1).replace(
            "URL=http://127.0.0.1:8000\n", f"URL={live.base}\n"
        )
        script += f'\nmv speech.wav "{tmp_path}/speech.wav"\n'  # leave the checkout as it was
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=live.env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "READY"
    samples, rate = sf.read(tmp_path / "speech.wav", dtype="float32")
    assert speech_seconds(samples, rate) > 0.8
