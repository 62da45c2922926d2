"""Resources injected into assets and checks: where the data lives, which feeds, how to fetch."""

from __future__ import annotations

import dagster as dg

from feeds_etl.feeds import FeedList, database_from_env, feeds_file_from_env, load_feed_list
from feeds_etl.fetch import FetchSettings
from feeds_etl.fetch.polite import Politeness
from feeds_etl.warehouse import LakeConfig, Warehouse

_DEFAULTS = FetchSettings()
_POLITENESS = Politeness()


class WarehouseResource(dg.ConfigurableResource):
    """The lake: its catalog (`FEEDS_ETL_CATALOG`) and data path (`FEEDS_ETL_DATA_PATH`)."""

    catalog: str
    data_path: str
    legacy_database: str = ""  # FEEDS_ETL_DATABASE: a warehouse of the first design, imported once

    def get(self) -> Warehouse:
        return Warehouse(LakeConfig(self.catalog, self.data_path))


class FeedListResource(dg.ConfigurableResource):
    """The feed list (`FEEDS_ETL_FEEDS`), validated on every load."""

    path: str

    def load(self) -> FeedList:
        return load_feed_list(self.path)


class FetcherResource(dg.ConfigurableResource):
    """HTTP limits; see README "Fetching" for what each one guards against."""

    connect_timeout: float = _DEFAULTS.connect_timeout
    read_timeout: float = _DEFAULTS.read_timeout
    deadline: float = _DEFAULTS.deadline
    max_bytes: int = _DEFAULTS.max_bytes
    max_redirects: int = _DEFAULTS.max_redirects
    concurrency: int = _DEFAULTS.concurrency
    per_host: int = _DEFAULTS.per_host
    # Article pages (full_text): connections at once and seconds between request starts, per host.
    article_per_host: int = _POLITENESS.per_host
    article_min_delay: float = _POLITENESS.min_delay

    def politeness(self) -> Politeness:
        return Politeness(per_host=self.article_per_host, min_delay=self.article_min_delay)

    def settings(self) -> FetchSettings:
        return FetchSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            deadline=self.deadline,
            max_bytes=self.max_bytes,
            max_redirects=self.max_redirects,
            concurrency=self.concurrency,
            per_host=self.per_host,
        )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment, resolved when the code location loads."""
    lake = LakeConfig.from_env()
    return {
        "warehouse": WarehouseResource(
            catalog=lake.catalog, data_path=lake.data_path, legacy_database=str(database_from_env())
        ),
        "feed_list": FeedListResource(path=str(feeds_file_from_env())),
        "fetcher": FetcherResource(),
    }
