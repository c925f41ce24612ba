"""Fixtures for the client tests: a dev node process (``strikevm node`` or anvil) per module.

``node`` is parametrized by backend. A backend that cannot run here (``strikevm node`` not
implemented yet, or no anvil binary for this platform) skips with the reason; missing
``node_modules`` (solc-js, OpenZeppelin, ethers, anvil) fail with how to install them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devnode import (
    BACKENDS,
    BackendUnavailable,
    DevNode,
    MissingDependency,
    check_backend,
    erc20_artifact,
    start_node,
)


def launch(backend: str, workdir: Path) -> DevNode:
    try:
        check_backend(backend)
    except MissingDependency as exc:
        pytest.fail(str(exc), pytrace=False)
    except BackendUnavailable as exc:
        pytest.skip(f"{backend}: {exc}")
    return start_node(backend, workdir)


@pytest.fixture(scope="module", params=BACKENDS)
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevNode]:
    """A fresh dev node for the test module, one per backend."""
    backend: str = request.param
    running = launch(backend, tmp_path_factory.mktemp(f"{backend}-node"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def erc20() -> dict[str, Any]:
    """The compiled ERC20Token artifact (abi, bytecode)."""
    try:
        return erc20_artifact()
    except MissingDependency as exc:
        pytest.fail(str(exc), pytrace=False)
