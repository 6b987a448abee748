"""The key-value store every instance shares: sessions, rate limits, sign-in throttling.

Redis (REDIS_URL) in production, through Litestar's RedisStore; without it, Litestar's FileStore
under KV_PATH, which the processes of one machine share, so `make run` needs nothing more.
Never process memory: what one instance writes, the others must see.
"""

from __future__ import annotations

from pathlib import Path

from litestar.stores.base import NamespacedStore
from litestar.stores.file import FileStore

from app.settings import Settings


def make_store(settings: Settings) -> NamespacedStore:
    if settings.redis_url:
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=settings.redis_url, namespace="monitorpay")
    path = Path(settings.kv_path)
    path.mkdir(parents=True, exist_ok=True)  # with_namespace() drops create_directories
    return FileStore(path, create_directories=True)
