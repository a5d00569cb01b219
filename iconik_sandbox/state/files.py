"""File sets and files: made on a storage, listed, marked deleted and purged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from iconik_sandbox.errors import BadRequest, NotFound
from iconik_sandbox.state.assets import Assets
from iconik_sandbox.state.tables import SYSTEM_DOMAIN_ID, USER_ID, Record, now_iso


class Files(Assets):
    """File sets and files of the assets, with the per-asset, per-set and per-storage
    indexes kept in step."""

    # -- file sets and files -------------------------------------------------------------------
    def add_file_set(
        self,
        asset_id: str,
        format_name: str,
        storage_id: str,
        files: Iterable[Mapping[str, Any]] | None = None,
        status: str = "ACTIVE",
        name: str | None = None,
        base_dir: str | None = None,
        component_ids: list[str] | None = None,
    ) -> Record:
        """Create a file set of the asset's format (created if missing) on a storage.

        Each item of ``files`` may give ``size``, ``checksum``, ``status`` (default CLOSED),
        ``name``, ``original_name``, ``directory_path``; by default one 1 KiB CLOSED file.
        """
        with self.lock:
            asset = self.asset(asset_id)
            self.storage(storage_id)
            fmt = self.add_format(asset_id, format_name)
            stamp = now_iso()
            default_name = f"{asset['title']}_{format_name}"
            fs = {
                "id": self.new_id(),
                "asset_id": asset_id,
                "format_id": fmt["id"],
                "storage_id": storage_id,
                "original_storage_id": storage_id,
                "name": name or default_name,
                "base_dir": base_dir if base_dir is not None else asset["title"],
                "component_ids": list(component_ids or [c["id"] for c in fmt["components"]]),
                "status": status,
                "is_archive": False,
                "version_id": fmt["version_id"],
                "date_created": stamp,
                "date_modified": stamp,
            }
            self.file_sets[fs["id"]] = fs
            self._sets_of.setdefault(asset_id, {})[fs["id"]] = None
            for index, spec in enumerate(files if files is not None else [{"size": 1024}]):
                self._add_file(fs, spec, index)
            return fs

    def _add_file(self, fs: Record, spec: Mapping[str, Any], index: int = 0) -> Record:
        stamp = now_iso()
        title = self.assets[fs["asset_id"]]["title"]
        original = (
            spec.get("original_name")
            or spec.get("name")
            or (f"{title}.mov" if index == 0 else f"{title}_{index}.mov")
        )
        record = {
            "id": self.new_id(),
            "asset_id": fs["asset_id"],
            "file_set_id": fs["id"],
            "format_id": fs["format_id"],
            "storage_id": fs["storage_id"],
            "version_id": fs["version_id"],
            "system_domain_id": SYSTEM_DOMAIN_ID,
            "user_id": USER_ID,
            "name": spec.get("name") or original,
            "original_name": original,
            "directory_path": spec.get("directory_path", fs["base_dir"]),
            "size": int(spec.get("size", 1024)),
            "checksum": spec.get("checksum"),
            "type": spec.get("type", "FILE"),
            "status": spec.get("status", "CLOSED"),
            "parent_id": None,
            "file_date_created": stamp,
            "file_date_modified": stamp,
            "date_created": stamp,
            "date_modified": stamp,
        }
        self.files[record["id"]] = record
        self._files_of_asset.setdefault(record["asset_id"], {})[record["id"]] = None
        self._files_of_set.setdefault(record["file_set_id"], {})[record["id"]] = None
        self._files_of_storage.setdefault(record["storage_id"], {})[record["id"]] = None
        self._storage_lists.pop(record["storage_id"], None)
        return record

    def file_set(self, asset_id: str, file_set_id: str) -> Record:
        """The asset's file set (any status), or NotFound."""
        with self.lock:
            fs = self.file_sets.get(file_set_id)
            if fs is None or fs["asset_id"] != asset_id:
                raise NotFound("File set for this asset doesn't exist")
            return fs

    def file_sets_of(
        self,
        asset_id: str,
        storage_id: str | None = None,
        status: str | None = "ACTIVE",
        format_name: str | None = None,
    ) -> list[Record]:
        """The asset's file sets, optionally on one storage, of one status and format."""
        with self.lock:
            fmt_ids = None
            if format_name is not None:
                fmt = self.format_named(asset_id, format_name)
                fmt_ids = {fmt["id"]} if fmt else set()
            sets = (self.file_sets[i] for i in self._sets_of.get(asset_id, ()))
            return [
                fs
                for fs in sets
                if (storage_id is None or fs["storage_id"] == storage_id)
                and (status is None or fs["status"] == status)
                and (fmt_ids is None or fs["format_id"] in fmt_ids)
            ]

    def files_of(
        self,
        asset_id: str | None = None,
        file_set_id: str | None = None,
        storage_id: str | None = None,
        status: str | None = None,
    ) -> list[Record]:
        """Files filtered by asset, file set, storage and status."""
        with self.lock:
            if file_set_id is not None:
                candidates: Iterable[Record] = (
                    self.files[i] for i in self._files_of_set.get(file_set_id, ())
                )
            elif asset_id is not None:
                candidates = (self.files[i] for i in self._files_of_asset.get(asset_id, ()))
            else:
                candidates = self.files.values()
            return [
                f
                for f in candidates
                if (asset_id is None or f["asset_id"] == asset_id)
                and (file_set_id is None or f["file_set_id"] == file_set_id)
                and (storage_id is None or f["storage_id"] == storage_id)
                and (status is None or f["status"] == status)
            ]

    def storage_file_ids(self, storage_id: str) -> list[str]:
        """The ids of every file on a storage (any status), oldest first. Shared: do not change
        it (it is made once per change of the storage, so paging 300,000 files stays fast)."""
        with self.lock:
            self.storage(storage_id)
            cached = self._storage_lists.get(storage_id)
            if cached is None:
                cached = list(self._files_of_storage.get(storage_id, ()))
                self._storage_lists[storage_id] = cached
            return cached

    def set_file_status(self, file_id: str, status: str) -> Record:
        """Change one file's status (e.g. make a B2 file MISSING in a test)."""
        with self.lock:
            record = self.files[file_id]
            record["status"] = status
            record["date_modified"] = now_iso()
            return record

    def delete_file_set(
        self, asset_id: str, file_set_id: str, immediately: bool = False
    ) -> Record | None:
        """iconik's DELETE: mark the file set and its files DELETED (recycle bin) and return it,
        or with ``immediately`` remove them at once and return None."""
        with self.lock:
            fs = self.file_set(asset_id, file_set_id)
            if immediately:
                self._remove_file_set(file_set_id)
                return None
            stamp = now_iso()
            fs.update(
                status="DELETED", date_deleted=stamp, date_modified=stamp, deleted_by_user=USER_ID
            )
            for f in self.files_of(file_set_id=file_set_id):
                f.update(status="DELETED", date_modified=stamp)
            return fs

    def purge_file_set(self, asset_id: str, file_set_id: str) -> None:
        """iconik's purge: remove a DELETED file set and its files (400 if not deleted)."""
        with self.lock:
            fs = self.file_set(asset_id, file_set_id)
            if fs["status"] != "DELETED":
                raise BadRequest("File set is not deleted")
            self._remove_file_set(file_set_id)

    def _remove_file_set(self, file_set_id: str) -> None:
        fs = self.file_sets.pop(file_set_id, None)
        if fs is not None:
            self._sets_of.get(fs["asset_id"], {}).pop(file_set_id, None)
        for file_id in self._files_of_set.pop(file_set_id, {}):
            record = self.files.pop(file_id, None)
            if record is not None:
                self._files_of_asset.get(record["asset_id"], {}).pop(file_id, None)
                self._files_of_storage.get(record["storage_id"], {}).pop(file_id, None)
                self._storage_lists.pop(record["storage_id"], None)

