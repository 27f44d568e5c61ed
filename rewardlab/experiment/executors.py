"""Executors: run many run configs in parallel, locally or on Ray, with one progress display.

A job is a plain serialisable value (``RunConfig`` as a dict plus the runs root), so the same
grid runs unchanged in a local process pool or on a Ray cluster. Each run writes its own run
directory; a crashed run is recorded there as failed and the rest of the grid continues.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Any

from rewardlab.experiment.runner import RunConfig


@dataclass
class JobResult:
    run_id: str
    status: str  # done / failed / interrupted
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_time: float = 0.0


def run_job(cfg: dict[str, Any], runs_dir: str | None) -> JobResult:
    """Worker entry point: one run, never raising (failures are results)."""
    import traceback

    from rewardlab.experiment.runner import run_config

    c = RunConfig(**cfg)
    rid = c.run_id or c.default_run_id()
    t0 = time.time()
    try:
        res = run_config(c, runs_dir=runs_dir, progress=False, overwrite=False)
        return JobResult(rid, res.status, res.summary, None, time.time() - t0)
    except KeyboardInterrupt:
        return JobResult(rid, "interrupted", {}, "interrupted", time.time() - t0)
    except Exception as e:
        return JobResult(
            rid, "failed", {}, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}", time.time() - t0
        )


def _worker_init() -> None:
    """Pool worker setup: one torch thread per worker, and die with the parent.

    A watchdog exits the worker when its parent disappears (e.g. ``kill -9`` of the command),
    so no orphan keeps writing a run directory that a re-run wants to resume.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


Event = Callable[[str, str, JobResult | None], None]  # (kind: start/finish, run_id, result)


class SerialExecutor:
    """Runs jobs one after another in this process (debugging, ``--workers 1``)."""

    name = "serial"
    workers = 1

    def map(self, jobs: Sequence[RunConfig], runs_dir: str | None, on_event: Event) -> list[JobResult]:
        out = []
        for c in jobs:
            rid = c.run_id or c.default_run_id()
            on_event("start", rid, None)
            r = run_job(asdict(c), runs_dir)
            on_event("finish", rid, r)
            out.append(r)
        return out


class LocalExecutor:
    """A process pool, one run per worker (default: one worker per CPU core).

    The pool is started on the first :meth:`map` and kept for the next ones (a search maps its candidates,
    re-training and baselines in turn), so each worker pays the start-up of the interpreter, torch and the
    lab once per executor, not once per batch of runs. :meth:`close` (or leaving a ``with`` block) stops it;
    a pool whose worker died (OOM, segfault) or a ``map`` that ended in an exception (Ctrl-C) is shut down
    and the next ``map`` starts a fresh one.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = get_context("spawn")  # torch and fork do not mix well; spawn is the safe default
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init)
        return self._pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            try:
                pool.shutdown(wait=False, cancel_futures=True)
            except Exception:  # interpreter shutdown: the pool's own exit handler stops the workers
                pass

    def map(self, jobs: Sequence[RunConfig], runs_dir: str | None, on_event: Event) -> list[JobResult]:
        results: list[JobResult] = []
        if not jobs:
            return results
        pool = self._get_pool()
        broken = False
        try:
            pending: dict[Future[Any], str] = {}
            queue = list(jobs)
            while queue or pending:
                while queue and len(pending) < self.workers:
                    c = queue.pop(0)
                    rid = c.run_id or c.default_run_id()
                    pending[pool.submit(run_job, asdict(c), runs_dir)] = rid
                    on_event("start", rid, None)
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    rid = pending.pop(fut)
                    try:
                        r = fut.result()
                    except Exception as e:  # the worker process itself died (OOM, segfault)
                        broken = True
                        r = JobResult(rid, "failed", {}, f"worker crashed: {type(e).__name__}: {e}")
                    results.append(r)
                    on_event("finish", rid, r)
        except BaseException:
            self.close()
            raise
        if broken:
            self.close()
        return results


class RayExecutor:
    """Ray tasks, one CPU each. ``address=None`` starts a local Ray instance; pass an address
    (``ray://host:10001`` or ``auto``) to use a cluster. Run directories must be on storage that
    every node sees (a shared filesystem) when the cluster has several machines."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray executor needs Ray: pip install 'rewardlab[ray]'") from None
        self.ray = ray
        self.address = address
        self.workers = workers

    def map(self, jobs: Sequence[RunConfig], runs_dir: str | None, on_event: Event) -> list[JobResult]:
        ray = self.ray
        started_here = not ray.is_initialized()
        if started_here:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            elif self.workers:
                kwargs["num_cpus"] = self.workers
            # workers import the lab from this checkout even when it is not installed
            kwargs["runtime_env"] = {"env_vars": {"OMP_NUM_THREADS": "1"}}
            ray.init(**kwargs)
        remote = ray.remote(num_cpus=1)(_ray_job)
        root = None if runs_dir is None else os.path.abspath(runs_dir)
        if root is None:
            from rewardlab.experiment.store import runs_root

            root = str(runs_root(None).resolve())
        refs = {}
        for c in jobs:
            rid = c.run_id or c.default_run_id()
            refs[remote.remote(asdict(c), root)] = rid
            on_event("start", rid, None)
        results = []
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    rid = refs.pop(ref)
                    try:
                        r = ray.get(ref)
                    except Exception as e:
                        r = JobResult(rid, "failed", {}, f"ray task failed: {type(e).__name__}: {e}")
                    results.append(r)
                    on_event("finish", rid, r)
        finally:
            if started_here:
                ray.shutdown()
        return results


def _ray_job(cfg: dict[str, Any], runs_dir: str) -> JobResult:
    import torch

    torch.set_num_threads(1)
    return run_job(cfg, runs_dir)


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Any:
    if name == "local":
        return SerialExecutor() if workers == 1 else LocalExecutor(workers)
    if name == "serial":
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address, workers)
    raise ValueError(f"unknown executor {name!r}; valid: local, serial, ray")
