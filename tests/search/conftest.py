import pytest

from tests.search.corpus import build_test_index
from toolgym.search.index import SearchIndex


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    return build_test_index(tmp_path_factory.mktemp("small-index"))
