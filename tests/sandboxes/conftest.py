import pytest

from tests.sandboxes.engine import IMAGE, require_docker


@pytest.fixture
def docker_image() -> str:
    """The sandbox image, after checking the engine (skip, or fail under CI=true)."""
    require_docker()
    return IMAGE
