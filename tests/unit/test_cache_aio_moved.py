"""The cache's async executor is ``cache.aio``, like ``lock.aio``; ``aexecute`` warns."""

from __future__ import annotations

import warnings

import pytest

from accord.contrib.django.cache import aexecute, aio


def test_the_old_module_still_gives_the_async_executor() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert aexecute.AsyncExecutor is aio.AsyncExecutor


def test_the_old_module_warns_naming_the_new_one() -> None:
    with pytest.warns(
        DeprecationWarning, match=r"import AsyncExecutor from accord\.contrib\.django\.cache\.aio"
    ):
        aexecute.AsyncExecutor  # noqa: B018
