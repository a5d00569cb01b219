"""Storages, assets (their versions and approval statuses) and formats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iconik_sandbox.errors import BadRequest, NotFound
from iconik_sandbox.state.tables import DAY_SECONDS, USER_ID, Record, Tables, iso, now_iso

APPROVAL_STATUSES = ("N/A", "REQUESTED", "APPROVED", "NOT_APPROVED", "MIXED")


class Assets(Tables):
    """Storages, assets and formats: what file sets and collections refer to."""

    # -- storages ------------------------------------------------------------------------------
    def add_storage(
        self,
        name: str,
        method: str,
        purpose: str = "FILES",
        settings: Mapping[str, Any] | None = None,
        status: str = "ACTIVE",
    ) -> Record:
        """Register a storage (``method`` B2 for a bucket, FILE for an ISG/LucidLink folder)."""
        with self.lock:
            default_settings: dict[str, Any] = (
                {
                    "bucket_name": "media-masters",
                    "path": "",
                    "delete": True,
                    "read": True,
                    "write": True,
                    "scan": False,
                }
                if method == "B2"
                else {
                    "mount_point": "/Volumes/lucidlink",
                    "delete": True,
                    "read": True,
                    "write": True,
                    "scan": True,
                }
            )
            storage: Record = {
                "id": self.new_id(),
                "name": name,
                "method": method,
                "purpose": purpose,
                "status": status,
                "status_message": None,
                "description": None,
                "default": False,
                "last_scanned": None,
                "scanner_status": None,
                "settings": dict(settings) if settings is not None else default_settings,
            }
            self.storages[storage["id"]] = storage
            return storage

    def storage(self, storage_id: str) -> Record:
        """The storage, or NotFound."""
        with self.lock:
            if storage_id not in self.storages:
                raise NotFound("Storage doesn't exist")
            return self.storages[storage_id]

    # -- assets and formats --------------------------------------------------------------------
    def add_asset(self, title: str) -> Record:
        """Create an asset (type ASSET, status ACTIVE), dated by the sandbox's clock."""
        with self.lock:
            stamp = iso(self.now())
            asset: Record = {
                "id": self.new_id(),
                "title": title,
                "type": "ASSET",
                "status": "ACTIVE",
                "archive_status": "NOT_ARCHIVED",
                "analyze_status": "N/A",
                "is_online": True,
                "is_blocked": False,
                "external_id": None,
                "category": None,
                "created_by_user": USER_ID,
                "date_created": stamp,
                "date_modified": stamp,
                "warning": None,
            }
            self.assets[asset["id"]] = asset
            return asset

    def asset(self, asset_id: str) -> Record:
        """The asset, or NotFound."""
        with self.lock:
            if asset_id not in self.assets:
                raise NotFound("Asset does not exist")
            return self.assets[asset_id]

    def version_of(self, asset_id: str) -> str:
        """The asset's current version id (automations run once per object and version)."""
        with self.lock:
            self.asset(asset_id)
            return self._versions.setdefault(asset_id, self.new_id())

    def new_version(self, asset_id: str) -> str:
        """Give the asset a new version (and ``date_modified`` now); returns its id."""
        with self.lock:
            self.asset(asset_id)["date_modified"] = iso(self.now())
            self._versions[asset_id] = self.new_id()
            return self._versions[asset_id]

    def touch_asset(self, asset_id: str, days_ago: float = 0.0) -> Record:
        """Set the asset's ``date_modified`` to ``days_ago`` days before the sandbox's now."""
        with self.lock:
            asset = self.asset(asset_id)
            asset["date_modified"] = iso(self.now() - days_ago * DAY_SECONDS)
            return asset

    def set_approval(self, asset_id: str, status: str, user_id: str = USER_ID) -> Record:
        """Set an asset's approval status; returns the ApprovalBySchema record."""
        if status not in APPROVAL_STATUSES:
            raise BadRequest(f"status: must be one of {', '.join(APPROVAL_STATUSES)}")
        with self.lock:
            record: Record = {
                "object_type": "assets",
                "object_id": asset_id,
                "version_id": self.version_of(asset_id),
                "status": status,
                "user": user_id,
                "change_date": iso(self.now()),
            }
            self.approvals[asset_id] = record
            return record

    def approval_status(self, asset_id: str) -> str:
        """The asset's approval status (N/A until one is set)."""
        with self.lock:
            return str(self.approvals.get(asset_id, {}).get("status", "N/A"))

    def add_format(self, asset_id: str, name: str) -> Record:
        """The asset's ACTIVE format of that name, created if it has none."""
        with self.lock:
            self.asset(asset_id)
            existing = self.format_named(asset_id, name)
            if existing is not None:
                return existing
            stamp = now_iso()
            fmt: Record = {
                "id": self.new_id(),
                "asset_id": asset_id,
                "name": name,
                "status": "ACTIVE",
                "archive_status": "NOT_ARCHIVED",
                "is_online": True,
                "components": [],
                "metadata": [],
                "storage_methods": [],
                "warnings": [],
                "user_id": USER_ID,
                "version_id": self.new_id(),
                "date_created": stamp,
                "date_modified": stamp,
            }
            fmt["components"] = [
                {"id": self.new_id(), "name": f"{name}_COMPONENT", "type": "VIDEO", "metadata": {}}
            ]
            self.formats[fmt["id"]] = fmt
            self._formats_of.setdefault(asset_id, []).append(fmt["id"])
            return fmt

    def format_named(self, asset_id: str, name_or_id: str) -> Record | None:
        """The asset's ACTIVE format with this name or id, or None."""
        with self.lock:
            for format_id in self._formats_of.get(asset_id, ()):
                fmt = self.formats[format_id]
                if fmt["status"] == "ACTIVE" and name_or_id in (fmt["name"], fmt["id"]):
                    return fmt
            return None

    def formats_of(self, asset_id: str) -> list[Record]:
        """The asset's ACTIVE formats."""
        with self.lock:
            formats = (self.formats[i] for i in self._formats_of.get(asset_id, ()))
            return [f for f in formats if f["status"] == "ACTIVE"]

