"""The audit scenario (issue 16): ``b2-iconik-actions audit`` of a LucidLink storage of N file
sets beside a B2 storage of 3N files, at iconik's rate, and its peak memory at two sizes.

The floor is the issue's: the pages of both storages' file listings (100 files a page, iconik's
most) at iconik's rate limit. The audit runs as an operator runs it, ``python -m
b2_iconik.custom_actions audit --json`` in a process of its own, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.figures import Figure, Result
from bench.lab import FORMATS, Lab
from bench.processes import ROOT, BenchError
from iconik_sandbox import Catalogue

#: Wall time within this many times the floor (issue 16).
AUDIT_TARGET = 1.3
#: iconik's largest page of a storage's files.
PAGE = 100
#: LucidLink file sets of the measured run and of the smaller one (memory), full and quick.
FULL_SIZES = (100_000, 10_000)
QUICK_SIZES = (200, 20)
#: A few B2 copies that are not good, so every class but "cannot tell" has members.
BAD = 10

_RSS = "PEAK_RSS_KB"
_RUNNER = (
    "import resource, sys\n"
    "from b2_iconik.custom_actions.cli import main\n"
    "status = main(sys.argv[1:])\n"
    f"sys.stderr.write('{_RSS} %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(status)\n"
)


@dataclass
class AuditRun:
    ll_sets: int
    b2_files: int
    wall: float
    floor: float
    pages: int
    calls: int
    throttled: int
    busiest: int
    rss_mb: float
    document: dict[str, Any]


def seed_storages(lab: Lab, ll_sets: int, bad: int) -> tuple[str, str]:
    """``ll_sets`` LucidLink file sets (assets on both storages, two formats) beside 3x as many
    B2 files: the same assets' B2 copies, and B2-only assets for the rest."""
    both = ll_sets // len(FORMATS)
    ids = lab.iconik.seed(Catalogue(
        assets=both, formats=FORMATS, collections_depth=0, on_b2=1.0, on_ll=1.0, duplicates=0,
        b2_missing=bad, b2_wrong_size=bad, b2_bad_status=bad, saved_searches=0, seed=16,
    ))
    lab.iconik.seed(Catalogue(
        assets=both * 2, formats=FORMATS, collections_depth=0, on_b2=1.0, on_ll=0.0,
        duplicates=0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0, saved_searches=0, seed=17,
    ))
    return ids.b2_storage_id, ids.ll_storage_id


def audit_once(lab: Lab, ll_sets: int, bad: int) -> AuditRun:
    """Seed, then run the audit as an operator does and measure it."""
    lab.reset()
    b2, ll = seed_storages(lab, ll_sets, bad)
    env = {
        "PATH": "",
        "ICONIK_URL": lab.iconik.url,
        "ICONIK_ID": lab.iconik.app_id,
        "ICONIK_TOKEN": lab.iconik.token,
        **({"ICONIK_MAX_RPS": str(lab.knobs.max_rps)} if lab.knobs.max_rps else {}),
    }
    lab.forget_requests()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, "audit", "--b2-storage", b2, "--ll-storage", ll,
         "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=3 * (4 * ll_sets / PAGE) / lab.knobs.rps + 300,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"the audit failed ({done.returncode}): {done.stderr[-2000:]}")
    rss_kb = next(
        (int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith(_RSS)), 0
    )
    document = json.loads(done.stdout)
    calls = lab.calls()
    listed = document["listed"]
    pages = math.ceil(listed["lucidlink_files"] / PAGE) + math.ceil(listed["b2_files"] / PAGE)
    return AuditRun(
        ll_sets=ll_sets, b2_files=listed["b2_files"], wall=wall, floor=pages / lab.knobs.rps,
        pages=listed["pages"], calls=calls.total, throttled=calls.throttled,
        busiest=calls.busiest_second(), rss_mb=rss_kb / 1024, document=document,
    )


def _classified_right(run: AuditRun, bad: int) -> bool:
    d = run.document
    return (
        d["safe_to_free"]["file_sets"] == run.ll_sets - 3 * bad
        and d["only_on_lucidlink"]["file_sets"] == bad + bad // 2  # MISSING, and half FAILED
        and d["b2_copy_differs"]["file_sets"] == bad
        and d["b2_copy_pending"]["file_sets"] == bad - bad // 2  # the GROWING half
        and d["cannot_tell"]["file_sets"] == 0
    )


def audit_scenario(lab: Lab, _sizes: Any) -> Result:
    """(issue 16) The audit at scale against its floor, and its memory at two sizes."""
    big_n, small_n = QUICK_SIZES if lab.knobs.quick else FULL_SIZES
    bad = 2 if lab.knobs.quick else BAD
    result = Result("audit", f"Audit {big_n:,} LucidLink file sets beside {3 * big_n:,} B2 files")
    big = audit_once(lab, big_n, bad)
    small = audit_once(lab, small_n, bad)
    rps = lab.knobs.rps
    result.add(
        Figure("wall time, start to JSON", big.wall, "s", floor=big.floor, target=AUDIT_TARGET,
               note=f"{big.pages:,} listing pages of both storages ÷ {rps:g}/s"),
        Figure("calls beyond the listing pages", big.calls - big.pages, "",
               note="per-asset reads where the listing could not settle a case"),
        Figure("429s received", big.throttled, "", target=5),
        Figure("most requests in any second", big.busiest, "", target=rps),
        Figure(f"peak RSS at {big_n:,} LucidLink file sets", big.rss_mb, "MB"),
        Figure(f"peak RSS at {small_n:,} LucidLink file sets", small.rss_mb, "MB"),
        Figure("every file set in its class", _classified_right(big, bad), target=True),
    )
    result.details = {
        str(run.ll_sets): {
            "lucidlink_file_sets": run.ll_sets,
            "b2_files": run.b2_files,
            "wall_seconds": round(run.wall, 2),
            "floor_seconds": round(run.floor, 2),
            "pages": run.pages,
            "calls": run.calls,
            "peak_rss_mb": round(run.rss_mb, 1),
            "classes": {
                k: {n: v for n, v in run.document[k].items() if n != "oldest"}
                for k in ("safe_to_free", "b2_copy_pending", "b2_copy_differs",
                          "only_on_lucidlink", "cannot_tell")
            },
        }
        for run in (big, small)
    }
    return result
