"""A throw-away SoftHSM2 token in a directory: for tests, benchmarks and demos without a real HSM.

SoftHSM reads ``SOFTHSM2_CONF`` once, when the module is first initialised in a process, so the
environment variable must point at the directory's config *before* any PKCS#11 use — which is
why :func:`create_token` sets it for the current process and returns it for child processes.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MODULE", "SoftHSMToken", "create_token"]

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class SoftHSMToken:
    directory: Path
    label: str
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        """What a child process needs in its environment to see this token."""
        return {"SOFTHSM2_CONF": str(self.conf)}


def create_token(directory: Path, label: str, pin: str, so_pin: str) -> SoftHSMToken:
    """Initialise a token labelled ``label`` under ``directory`` and point this process at it."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return SoftHSMToken(directory=directory, label=label, conf=conf)
