"""A thin client for the parts of iconik's API the plugin uses.

One :class:`IconikClient` per action: tokens are per user, so the session carries that user's
``Auth-Token``. The session's adapter owns the cross-cutting rules of DESIGN §6: a timeout on every
call, urllib3's ``Retry`` for 429/5xx and connection errors (honouring ``Retry-After``), and an
instance-wide request-rate cap (:class:`~.limiter.RateLimiter`) in which answering a click goes
before background work. Every client of the instance shares one pool of connections (:mod:`.pool`),
so a click or a step does not open (and, against the real iconik, handshake) connections of its
own. Public methods are iconik operations, not ``get``/``post``; every ``requests`` failure is
translated into :mod:`b2_iconik.base.errors` in :mod:`.session` and nowhere else. The user's token
goes to ``ICONIK_URL`` only: ``next_url`` is used for its path, and redirects are never followed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.iconik.session import MAX_PAGES, PER_PAGE, IconikSession, Json, local_path

#: Most ids iconik takes in one bulk body.
BULK_LIMIT = 500
#: iconik's automations collection (the Automation engine's API).
AUTOMATIONS = "/API/automations/v1/automations/"


class IconikClient(IconikSession):
    """iconik's Assets, Files, Jobs and Search APIs as the plugin uses them (and Automations, for
    the admin tool's policies).

    Its constructor and plumbing are :class:`~.session.IconikSession`'s; these are the operations.
    """

    def __repr__(self) -> str:
        return f"IconikClient({self.base_url!r})"

    # -- storages --------------------------------------------------------------------------

    def get_storage(self, storage_id: str) -> Json | None:
        """The storage, or None when iconik does not know it."""
        return self._call("GET", f"/API/files/v1/storages/{storage_id}/", missing_ok=True)

    def list_storages(self) -> list[Json]:
        """Every storage the user can see."""
        return list(self._pages("/API/files/v1/storages/", {"per_page": PER_PAGE}))

    def storage_files(self, storage_id: str) -> Iterator[Json]:
        """Every file iconik lists on a storage, one page (its envelope) at a time.

        A scroll (``scroll=true``): pages of a changing storage do not shift under the reader
        as page numbers would. ``next_url`` is followed; should iconik give only a
        ``scroll_id``, it is passed back until ``total`` files were read or a page is empty.

        Raises:
            IconikHTTPError: 404 for an unknown storage, 403 without ``can_list_storage_files``.
        """
        path = f"/API/files/v1/storages/{storage_id}/files/"
        params: dict[str, Any] | None = {"per_page": PER_PAGE, "scroll": "true"}
        seen: set[str] = set()
        read = 0
        for _ in range(MAX_PAGES):
            page = self._call("GET", path, params=params) or {}
            objects = page.get("objects") or []
            read += len(objects)
            yield page
            total = page.get("total")
            next_url = page.get("next_url")
            if next_url:
                path, params = local_path(next_url), None
            elif page.get("scroll_id") and objects and (not isinstance(total, int) or read < total):
                path = f"/API/files/v1/storages/{storage_id}/files/"
                params = {"per_page": PER_PAGE, "scroll": "true", "scroll_id": page["scroll_id"]}
            else:
                return
            key = path + repr(sorted((params or {}).items())) + str(read)
            if key in seen:
                raise IconikHTTPError(200, [f"next page repeats {path}"], "GET", path)
            seen.add(key)
        raise IconikHTTPError(200, [f"more than {MAX_PAGES} pages"], "GET", path)

    def storage_files_page(self, storage_id: str, page: int, per_page: int = PER_PAGE) -> Json:
        """One page, by number, of the files iconik lists on a storage (its envelope: objects,
        page, pages, total...). Pages can be asked for in any order, or several at once.

        Raises:
            IconikHTTPError: 404 for an unknown storage or a page past the last.
        """
        path = f"/API/files/v1/storages/{storage_id}/files/"
        return self._call("GET", path, params={"per_page": per_page, "page": page}) or {}

    # -- copies ----------------------------------------------------------------------------

    def bulk_copy(
        self,
        destination_id: str,
        asset_ids: list[str],
        format_name: str,
        source_id: str | None = None,
        overwrite: bool | None = None,
    ) -> str:
        """Ask iconik to copy one format of up to 500 assets to a storage.

        ``overwrite``: sent when given (False: iconik must not replace a file set already on
        the destination; left out, iconik's default, which is also False).

        Returns:
            the id of the copy job iconik created.
        """
        if not 0 < len(asset_ids) <= BULK_LIMIT:
            raise ValueError(f"bulk_copy takes 1 to {BULK_LIMIT} asset ids, not {len(asset_ids)}")
        body: Json = {
            "object_ids": asset_ids,
            "object_type": "assets",
            "format_name": format_name,
            "allow_duplicate_transfers": False,
        }
        if source_id:
            body["preferred_original_storage_id"] = source_id
        if overwrite is not None:
            body["overwrite"] = overwrite
        answer = self._call("POST", f"/API/files/v1/storages/{destination_id}/bulk/", json=body)
        return str((answer or {}).get("job_id") or "")

    # -- formats, file sets, files ---------------------------------------------------------

    def asset_formats(self, asset_id: str) -> list[Json]:
        """Every format of the asset (empty when it has none)."""
        return self._list(f"/API/files/v1/assets/{asset_id}/formats/")

    def asset_file_sets(self, asset_id: str) -> list[Json]:
        """Every file set of the asset, all formats and storages, with ``file_count`` filled."""
        return self._list(f"/API/files/v1/assets/{asset_id}/file_sets/", file_count="true")

    def asset_files(self, asset_id: str) -> list[Json]:
        """Every file of the asset, all formats and storages."""
        return self._list(f"/API/files/v1/assets/{asset_id}/files/", generate_signed_url="false")

    def delete_file_set(self, asset_id: str, file_set_id: str) -> None:
        """Delete a file set, skipping the recycle bin (one call, not delete then purge).

        ``immediately=true`` is iconik's own "delete and purge at once" (files spec: "skip the
        recycle bin"). A file set that is already gone (404) counts as deleted, so a step that
        runs twice, or two actions on the same asset, do no harm.
        """
        path = f"/API/files/v1/assets/{asset_id}/file_sets/{file_set_id}/"
        self._call("DELETE", path, params={"immediately": "true"}, missing_ok=True)

    def get_asset(self, asset_id: str) -> Json | None:
        """The asset (for its title), or None when iconik does not know it."""
        return self._call("GET", f"/API/assets/v1/assets/{asset_id}/", missing_ok=True)

    # -- collections and saved searches ----------------------------------------------------

    def collection_contents(self, collection_id: str) -> Iterator[Json]:
        """The direct children (assets and collections) of a collection, every page.

        Raises:
            IconikHTTPError: 404 when the collection does not exist.
        """
        return self._pages(
            f"/API/assets/v1/collections/{collection_id}/contents/",
            {"per_page": PER_PAGE, "object_types": "assets,collections"},
        )

    def saved_search_results(self, search_id: str) -> Iterator[Json]:
        """The objects a saved search finds, every page."""
        return self._pages(f"/API/search/v1/search/saved/{search_id}/", {"per_page": PER_PAGE})

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, job: Json) -> str:
        """Create an iconik job; returns its id."""
        answer = self._call("POST", "/API/jobs/v1/jobs/", json=job) or {}
        job_id = answer.get("id")
        if not job_id:
            raise IconikHTTPError(200, ["job created without an id"], "POST", "/API/jobs/v1/jobs/")
        return str(job_id)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Change some fields of a job (a partial PATCH); ``metadata`` keys are merged."""
        params = {"merge_metadata": "true"} if "metadata" in fields else None
        self._call("PATCH", f"/API/jobs/v1/jobs/{job_id}/", params=params, json=fields)

    def get_job(self, job_id: str) -> Json | None:
        """The job, or None when iconik does not know it."""
        return self._call("GET", f"/API/jobs/v1/jobs/{job_id}/", missing_ok=True)

    def child_jobs(self, parent_id: str, status: str | None = None) -> list[Json]:
        """The jobs iconik made under a parent job (a bulk copy's per-asset transfers)."""
        params: dict[str, Any] = {"parent_id": parent_id, "per_page": PER_PAGE}
        if status:
            params["status"] = status
        return list(self._pages("/API/jobs/v1/jobs/", params))

    def jobs_about(self, object_id: str) -> Iterator[Json]:
        """The CUSTOM jobs whose ``object_id`` is this one, page by page (as needed)."""
        params = {"object_id": object_id, "type": "CUSTOM", "per_page": PER_PAGE}
        return self._pages("/API/jobs/v1/jobs/", params)

    def started_jobs(self, most: int = 500) -> list[Json]:
        """The user's CUSTOM jobs still STARTED, newest first (at most ``most``)."""
        params = {"type": "CUSTOM", "status": "STARTED", "per_page": PER_PAGE}
        return list(itertools.islice(self._pages("/API/jobs/v1/jobs/", params), most))

    # -- the user's token ------------------------------------------------------------------

    def check_token(self) -> Json:
        """iconik's answer on the session's token (401 when it is no longer valid)."""
        return self._call("GET", "/API/auth/v1/auth/token/") or {}

    def new_token(self) -> Json:
        """A new token for the same user and application; the current one stays valid.

        Returns:
            iconik's TokenSchema: ``token`` and ``expires``.
        """
        return self._call("POST", "/API/auth/v1/auth/token/", json={}) or {}

    # -- custom actions --------------------------------------------------------------------

    def list_custom_actions(self) -> list[Json]:
        """Every custom action of the domain, all contexts."""
        return list(self._pages("/API/assets/v1/custom_actions/", {}))

    def create_custom_action(self, context: str, action: Json) -> Json:
        """Create a custom action in a context; returns it as iconik stored it."""
        return self._call("POST", f"/API/assets/v1/custom_actions/{context}/", json=action) or {}

    def update_custom_action(self, context: str, action_id: str, action: Json) -> Json:
        """Replace a custom action's fields; returns it as iconik stored it."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        return self._call("PUT", path, json=action) or {}

    def delete_custom_action(self, context: str, action_id: str) -> None:
        """Delete a custom action; one already gone counts as deleted."""
        path = f"/API/assets/v1/custom_actions/{context}/{action_id}/"
        self._call("DELETE", path, missing_ok=True)

    # -- automations (policies) ------------------------------------------------------------

    def get_collection(self, collection_id: str) -> Json | None:
        """The collection, or None when iconik does not know it."""
        path = f"/API/assets/v1/collections/{collection_id}/"
        return self._call("GET", path, missing_ok=True)

    def list_automations(self) -> list[Json]:
        """Every automation of the domain, every page."""
        return list(self._pages(AUTOMATIONS, {}))

    def create_automation(self, automation: Json) -> Json:
        """Create an automation (201); returns it as iconik stored it, with its id."""
        return self._call("POST", AUTOMATIONS, json=automation) or {}

    def update_automation(self, automation_id: str, automation: Json) -> Json:
        """Replace an automation's fields (PUT); returns it as iconik stored it."""
        return self._call("PUT", f"{AUTOMATIONS}{automation_id}/", json=automation) or {}

    def patch_automation(self, automation_id: str, **fields: Any) -> Json:
        """Change some fields of an automation (PATCH), e.g. its ``status``."""
        return self._call("PATCH", f"{AUTOMATIONS}{automation_id}/", json=fields) or {}

    def delete_automation(self, automation_id: str) -> None:
        """Delete an automation (204); one already gone counts as deleted."""
        self._call("DELETE", f"{AUTOMATIONS}{automation_id}/", missing_ok=True)

    def estimate_automation(self, automation_id: str) -> Json:
        """iconik's estimate of a run on existing objects: ``{total, facets, errors}``."""
        return self._call("GET", f"{AUTOMATIONS}{automation_id}/runs/estimate/") or {}

    def run_automation(self, automation_id: str) -> None:
        """Run an automation on the existing objects it matches; iconik answers 202 at once."""
        self._call("POST", f"{AUTOMATIONS}{automation_id}/runs/")
