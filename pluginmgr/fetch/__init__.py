"""Fetching plugins: references (`refs`) resolved to sources (`resolver`, `git_source`,
`registry_source`, local files under the plugin dir in `plugin_dir` and `plugin_layout`),
downloaded through `transports` with revalidation (`url`), checked (`content_checks`,
`safe_archive`), kept in the content-addressed `store` (and `scratch_store` for dry runs), and
pinned in ``plugins.lock`` (`lockfile`, `fetched`); `manager` ties them together, answering
pinned references from the store alone (`pinned_content`). `probes` are doctor's
reachability checks. This is the bottom layer of the plugin manager: it uses only
`pluginmgr.errors`, `pluginmgr.settings` and the shared helpers beside them.
"""

from __future__ import annotations

__all__: list[str] = []
