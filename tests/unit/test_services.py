"""How the web server's Services report a load that fails."""

from __future__ import annotations

import pytest

from app.services import NotReady, Services
from rag.config import Settings
from rag.errors import NewsragError, StoreError


def test_a_user_facing_error_is_kept_as_it_is(tmp_path):
    def load(_settings):
        raise StoreError("No index at x: run `newsrag ingest` first.")

    services = Services(Settings(index_dir=tmp_path), load=load)
    services.start(background=False)
    assert not services.ready
    with pytest.raises(StoreError, match="newsrag ingest"):
        services.engine()


def test_a_bug_while_loading_is_reported_not_mistaken_for_loading(tmp_path):
    def load(_settings):
        raise KeyError("boom")

    services = Services(Settings(index_dir=tmp_path), load=load)
    services.start(background=False)
    with pytest.raises(NewsragError, match=r"could not be loaded .*KeyError.*server log") as err:
        services.engine()
    assert not isinstance(err.value, NotReady)


def test_still_loading_says_so(tmp_path):
    services = Services(Settings(index_dir=tmp_path))
    with pytest.raises(NotReady, match="still loading"):
        services.engine()
