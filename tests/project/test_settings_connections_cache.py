"""Persistent database connections and the shared cache follow their environment variables (issue 13)."""

from __future__ import annotations

from tests.project.test_security import settings_with

NO_REDIS = {"CELERY_BROKER_URL": "", "REDIS_URL": "", "PIXELDOJO_RATE_LIMIT_REDIS_URL": "", "CACHE_URL": ""}
POSTGRES = "postgres://app@127.0.0.1:5432/app"


def test_database_connections_are_kept_a_minute_and_checked_before_reuse_by_default():
    database = settings_with(DATABASE_URL=POSTGRES, DATABASE_CONN_MAX_AGE="")["DATABASES"]["default"]
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True


def test_database_conn_max_age_can_close_each_connection_or_keep_it_longer():
    for value, expected in (("0", 0), ("600", 600)):
        database = settings_with(DATABASE_URL=POSTGRES, DATABASE_CONN_MAX_AGE=value)["DATABASES"]["default"]
        assert database["CONN_MAX_AGE"] == expected
        assert database["CONN_HEALTH_CHECKS"] is True


def test_without_redis_the_cache_is_files_under_var_shared_by_the_processes_of_one_machine():
    names = settings_with(**NO_REDIS, PIXELGALLERY_VAR_DIR="/srv/pixelgallery")
    cache = names["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert cache["LOCATION"] == "/srv/pixelgallery/cache"
    assert cache["TIMEOUT"] == 300


def test_with_redis_around_the_cache_lives_there_unless_cache_url_says_otherwise():
    redis = {**NO_REDIS, "CELERY_BROKER_URL": "redis://redis:6379/0"}
    cache = settings_with(**redis)["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://redis:6379/0"
    own = {**redis, "CACHE_URL": "redis://cache:6379/2", "CACHE_TIMEOUT_SECONDS": "60"}
    cache = settings_with(**own)["CACHES"]
    assert (cache["default"]["LOCATION"], cache["default"]["TIMEOUT"]) == ("redis://cache:6379/2", 60)
