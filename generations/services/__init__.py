"""Business logic of a generation's life, as plain functions (tasks and views only call these).

Every function is safe to run twice (Celery may redeliver a task): side effects are guarded by database state
transitions made with conditional updates or row locks.
"""

from generations.services.calling import generation_fail, generation_run, retry_delay
from generations.services.catalogue import catalogue_refresh, catalogue_refresh_due
from generations.services.comparison import CompareParams, ComparePrice, comparison_submit
from generations.services.hashing import image_hash_backfill, images_missing_hash
from generations.services.pause import (
    forget_provider_pause,
    header_provider_pause,
    provider_pause_active,
    provider_pause_clear,
    provider_pause_start,
)
from generations.services.persistence import (
    generation_settle,
    image_is_past_retention,
    image_mark,
    image_persist,
    image_storage_names,
    image_thumbnails_remake,
    image_wait_for_host,
    images_missing_small_thumbnail,
)
from generations.services.reuse import generation_reuse
from generations.services.submission import (
    SubmissionRefused,
    catalogue_generation_submit,
    generation_submit,
)
from generations.services.sweeping import sweep_stale_work
from generations.services.teams import team_generations_delete
from generations.services.waiting import image_host_allow, images_release_waiting

__all__ = [
    "CompareParams",
    "ComparePrice",
    "SubmissionRefused",
    "catalogue_generation_submit",
    "catalogue_refresh",
    "catalogue_refresh_due",
    "comparison_submit",
    "forget_provider_pause",
    "generation_fail",
    "generation_reuse",
    "generation_run",
    "generation_settle",
    "generation_submit",
    "header_provider_pause",
    "image_hash_backfill",
    "image_host_allow",
    "image_is_past_retention",
    "image_mark",
    "image_persist",
    "image_storage_names",
    "image_thumbnails_remake",
    "image_wait_for_host",
    "images_missing_hash",
    "images_missing_small_thumbnail",
    "images_release_waiting",
    "provider_pause_active",
    "provider_pause_clear",
    "provider_pause_start",
    "retry_delay",
    "sweep_stale_work",
    "team_generations_delete",
]
