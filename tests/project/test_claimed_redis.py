"""A test run's claimed Redis database keeps its claim mark and its queued messages from test to test, even
though every test empties the cache that lives in the same database."""

from __future__ import annotations

import os

import pytest
import redis
from django.core.cache import cache

from tools.processes import RedisDatabase

broker_is_redis = pytest.mark.skipif(
    not os.environ["CELERY_BROKER_URL"].startswith("redis://"), reason="the broker is not Redis here"
)


@broker_is_redis
def test_emptying_the_cache_between_tests_keeps_the_claim_and_other_keys():
    from tests.conftest import _empty_the_cache

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    try:
        assert client.get(RedisDatabase.CLAIM_KEY)  # still marked after this test's own cache emptying
        client.set("not-a-cache-key", "kept")
        cache.set("greeting", "hello")
        _empty_the_cache()
        assert cache.get("greeting") is None
        assert client.get("not-a-cache-key") == b"kept"
        assert client.get(RedisDatabase.CLAIM_KEY)
    finally:
        client.delete("not-a-cache-key")
        client.close()
