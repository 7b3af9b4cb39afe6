"""FHIR Bulk Data export (Bulk Data Access IG v2.0.0) for the health stand-in.

* ``GET /fhir/$export`` or ``/fhir/Group/{id}/$export`` with ``Prefer: respond-async``,
  ``_type`` and ``_since`` (resources changed *after* it, as the IG words it) kicks off a job:
  202 with ``Content-Location`` naming its status URL. The job's files are written at once, as
  of ``transactionTime`` (now): every matching resource changed up to and including it.
* ``GET`` on the status URL answers 202 with ``X-Progress`` and ``Retry-After`` for the first
  ``polls`` requests, then 200 with the manifest: ``transactionTime``, ``request``,
  ``requiresAccessToken: true``, ``output[]`` {type, url, count} and an empty ``error[]``.
* ``GET`` on a file URL streams NDJSON (``application/fhir+ndjson``) -- with the bearer token,
  as ``requiresAccessToken`` says; ``DELETE`` on the status URL removes the job and its files.

Files hold at most ``file_size`` resources, so a type may span several. Resources are presented
as search presents them (the app's ``Served`` profile); with ``shuffle`` each file's lines come in a seeded order.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from connectors.standins.store import CHUNK, RecordStore, Row, stamp

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
GROUPS = ("all",)  # the one Group: everyone the region holds records on
BAD_PREFER = "the $export kick-off needs the header Prefer: respond-async"
BAD_TYPE = "_type must list supported resource types, comma-separated"
BAD_SINCE = "_since must be an instant, e.g. 2026-03-01T08:00:00Z"
BAD_FORMAT = "_outputFormat must be application/fhir+ndjson"
UNKNOWN_GROUP = "Group/{gid} is not known"
UNKNOWN_JOB = "no export job {job}"


@dataclass(frozen=True, slots=True)
class BulkOptions:
    file_size: int = 1_000  # resources per NDJSON file
    polls: int = 1  # status requests answered 202 before the manifest
    retry_after_s: int = 1


@dataclass
class Job:
    request: str
    transaction_time: str
    files: list[tuple[str, str, int]] = field(default_factory=list)  # type, file name, count
    polls_left: int = 0


Render = Callable[[Row], dict[str, Any]]  # a stored row as the server presents the resource


def bulk_router(store: RecordStore, data_dir: Path, types: tuple[str, ...], render: Render,
                options: BulkOptions, shuffle: str | None, base_of: Callable[[Request], str],
                ) -> APIRouter:
    router = APIRouter()
    jobs: dict[str, Job] = {}
    lock = threading.Lock()
    root = data_dir / "bulk"

    def kick_off(request: Request) -> Response:
        if "respond-async" not in request.headers.get("prefer", ""):
            raise HTTPException(400, detail=BAD_PREFER)
        params = request.query_params
        if params.get("_outputFormat", NDJSON) not in OUTPUT_FORMATS:
            raise HTTPException(400, detail=BAD_FORMAT)
        wanted = tuple(t for t in params.get("_type", ",".join(types)).split(",") if t)
        if not wanted or any(t not in types for t in wanted):
            raise HTTPException(400, detail=BAD_TYPE)
        since = _since(params.get("_since"))
        job_id = uuid.uuid4().hex
        job = Job(str(request.url), stamp(dt.datetime.now(dt.UTC)), polls_left=options.polls)
        directory = root / job_id
        directory.mkdir(parents=True)
        for kind in wanted:
            job.files.extend(_write(store, directory, kind, since, job.transaction_time, render, options, shuffle))
        with lock:
            jobs[job_id] = job
        base = base_of(request)
        return Response(status_code=202, headers={"Content-Location": f"{base}/$export-status/{job_id}"})

    @router.get("/$export")
    def system_export(request: Request) -> Response:
        return kick_off(request)

    @router.get("/Group/{gid}/$export")
    def group_export(gid: str, request: Request) -> Response:
        if gid not in GROUPS:
            raise HTTPException(404, detail=UNKNOWN_GROUP.format(gid=gid))
        return kick_off(request)

    @router.get("/$export-status/{job_id}")
    def status(job_id: str, request: Request) -> Response:
        with lock:
            job = jobs.get(job_id)
            if job is None:
                raise HTTPException(404, detail=UNKNOWN_JOB.format(job=job_id))
            if job.polls_left > 0:
                job.polls_left -= 1
                done = 100 * (options.polls - job.polls_left) // (options.polls + 1)
                return Response(status_code=202, headers={"X-Progress": f"exporting ({done}% done)",
                                                          "Retry-After": str(options.retry_after_s)})
        base = base_of(request)
        manifest = {
            "transactionTime": job.transaction_time,
            "request": job.request,
            "requiresAccessToken": True,
            "output": [{"type": kind, "url": f"{base}/$export-file/{job_id}/{name}", "count": count}
                       for kind, name, count in job.files],
            "error": [],
        }
        return Response(json.dumps(manifest), media_type="application/json")

    @router.delete("/$export-status/{job_id}")
    def delete(job_id: str) -> Response:
        with lock:
            job = jobs.pop(job_id, None)
        if job is None:
            raise HTTPException(404, detail=UNKNOWN_JOB.format(job=job_id))
        shutil.rmtree(root / job_id, ignore_errors=True)
        return Response(status_code=202)

    @router.get("/$export-file/{job_id}/{name}")
    def file(job_id: str, name: str) -> Response:
        with lock:
            job = jobs.get(job_id)
        if job is None or name not in {n for _, n, _ in job.files}:
            raise HTTPException(404, detail=UNKNOWN_JOB.format(job=job_id))
        return FileResponse(root / job_id / name, media_type=NDJSON)

    return router


def _write(store: RecordStore, directory: Path, kind: str, since: str | None, until: str, render: Render,
           options: BulkOptions, shuffle: str | None) -> list[tuple[str, str, int]]:
    """``kind``'s resources changed after ``since`` up to ``until``, in files of ``file_size``."""
    files: list[tuple[str, str, int]] = []
    lines: list[str] = []

    def flush() -> None:
        if shuffle is not None:
            random.Random(f"{shuffle}|{kind}|{len(files)}").shuffle(lines)
        name = f"{kind}-{len(files) + 1}.ndjson"
        (directory / name).write_text("".join(lines), encoding="utf-8")
        files.append((kind, name, len(lines)))
        lines.clear()

    after: tuple[str, str] | None = (since, "\U0010ffff") if since else None  # after the instant: every id
    while True:
        rows: list[Row] = store.feed(kind, after, CHUNK)
        for row in rows:
            if row.modified > until:
                break
            lines.append(json.dumps(render(row), separators=(",", ":")) + "\n")
            if len(lines) >= options.file_size:
                flush()
        if len(rows) < CHUNK or rows[-1].modified > until:
            break
        after = (rows[-1].modified, rows[-1].id)
    if lines:
        flush()
    return files


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, detail=BAD_SINCE) from None
    return stamp(at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at)
