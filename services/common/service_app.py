"""Builds one service process: FastAPI + faust agents + outbox relay, started and stopped together.

Each service's `bootstrap.py` describes itself as a `ServiceSpec`; this module is the shared
composition root underneath (settings → logs → pool → migrations → topics → producer → relay → faust).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from faust.contrib.asgi import faust_app_running
from prometheus_client import CollectorRegistry

from services.common.batch_loop import BatchLoop
from services.common.consumer import BatchConsumer, Subscription, crash_process
from services.common.contract import Contract, load_contract
from services.common.db import create_pool
from services.common.envelope import Envelope
from services.common.http import install_observability
from services.common.kafka import create_topics, new_producer
from services.common.logs import configure_logging
from services.common.metrics import KernelMetrics, new_registry
from services.common.migrations import apply_migrations, migrations_for
from services.common.outbox import OutboxRelay
from services.common.schedule import JobHandler, Scheduler
from services.common.settings import Settings
from services.common.streams import make_faust_app, register_agent

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The live adapters of one process, handed to a service's factories once started."""

    service: str
    settings: Settings
    contract: Contract
    registry: CollectorRegistry
    metrics: KernelMetrics
    pool: asyncpg.Pool = None  # type: ignore[assignment]  # set during startup
    producer: AIOKafkaProducer = None  # type: ignore[assignment]
    relay: OutboxRelay = None  # type: ignore[assignment]
    scheduler: Scheduler | None = None
    ready: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    migrations: Path | None
    subscriptions: Callable[[Runtime], list[Subscription]] = lambda rt: []
    routers: Callable[[Runtime], list[APIRouter]] = lambda rt: []
    #: Handlers of the service's durable schedule, by job kind; a `Scheduler` runs them when non-empty.
    jobs: Callable[[Runtime], dict[str, JobHandler]] = lambda rt: {}
    #: Called with the events of each committed batch of jobs (business metrics, counted exactly once).
    on_jobs_committed: Callable[[Runtime], Callable[[Sequence[Envelope]], None]] | None = None
    #: Long-running loops of the service (senders); each gets the runtime.
    background: Callable[[Runtime], list[Coroutine[Any, Any, None]]] = lambda rt: []
    on_startup: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None
    on_shutdown: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None
    #: Last touch on the built app (ASGI middleware around the routes, OpenAPI additions), once routers are in.
    configure_app: Callable[[FastAPI, Runtime], None] | None = None
    title: str = ""


async def prepare_database(spec: ServiceSpec, settings: Settings) -> asyncpg.Pool:
    pool = await create_pool(settings.database_url, spec.name, max_size=settings.db_pool_max)
    await apply_migrations(pool, spec.name, migrations_for(spec.migrations))
    return pool


def build_service_app(spec: ServiceSpec, settings: Settings) -> FastAPI:
    registry = new_registry()
    runtime = Runtime(
        service=spec.name,
        settings=settings,
        contract=load_contract(),
        registry=registry,
        metrics=KernelMetrics.create(registry),
    )
    subscriptions = spec.subscriptions(runtime)
    use_faust = settings.consumer_engine == "faust"
    faust_app = make_faust_app(spec.name, settings) if use_faust and subscriptions else None
    for subscription in subscriptions if faust_app is not None else ():
        register_agent(
            faust_app,
            _consumer_factory(runtime, subscription),
            name=subscription.name,
            topics=subscription.topics,
            max_events=subscription.batch_limit(settings),
            max_wait_s=settings.batch_max_wait_s,
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, settings.log_level, settings.log_format)
        runtime.pool = await prepare_database(spec, settings)
        await create_topics(settings.kafka_bootstrap_servers, runtime.contract.topics_to_create())
        runtime.producer = new_producer(settings, client_id=f"retention-{spec.name}")
        await runtime.producer.start()
        runtime.relay = OutboxRelay(
            service=spec.name,
            pool=runtime.pool,
            producer=runtime.producer,
            metrics=runtime.metrics,
            poll_interval_s=settings.outbox_poll_interval_s,
        )
        if spec.on_startup:
            await spec.on_startup(runtime)
        tasks = [asyncio.create_task(runtime.relay.run(), name="outbox-relay")]
        job_handlers = spec.jobs(runtime)
        if job_handlers:
            runtime.scheduler = Scheduler(
                service=spec.name,
                pool=runtime.pool,
                contract=runtime.contract,
                handlers=job_handlers,
                metrics=runtime.metrics,
                after_commit=runtime.relay.wake,
                on_committed=spec.on_jobs_committed(runtime) if spec.on_jobs_committed else None,
                poll_interval_s=settings.scheduler_poll_interval_s,
            )
            tasks.append(asyncio.create_task(runtime.scheduler.run(), name="scheduler"))
        tasks += [asyncio.create_task(coro) for coro in spec.background(runtime)]
        loops = []
        if faust_app is None:
            # One consumer group per subscription (`retention-<service>.<subscription>`), so one's rebalance never
            # pauses another, and never the faust engine's group: the two assignors cannot share a group.
            for subscription in subscriptions:
                group = f"retention-{spec.name}.{subscription.name}"
                consumer = _consumer_factory(runtime, subscription)()
                loops.append(
                    BatchLoop(
                        settings,
                        group,
                        subscription.topics,
                        consumer,
                        max_events=subscription.batch_limit(settings),
                        lanes=subscription.lane_count(settings),
                    )
                )
            await asyncio.gather(*(loop.start() for loop in loops))  # each start waits for its group's join
            for loop, subscription in zip(loops, subscriptions, strict=True):
                tasks.append(asyncio.create_task(loop.run(), name=f"consume-{subscription.name}"))
        for task in tasks:
            task.add_done_callback(_crash_on_failure)
        freeze_startup_heap()
        try:
            if faust_app is not None:
                async with faust_app_running(faust_app, stop_timeout=30):
                    runtime.ready = True
                    log.info("service ready", extra={"port": settings.http_port})
                    yield
            else:
                runtime.ready = True
                log.info("service ready", extra={"port": settings.http_port})
                yield
        finally:
            runtime.ready = False
            for loop in loops:
                loop.stop()  # finishes its batch and commits; the relay below still publishes what it staged
            await asyncio.gather(*[t for t in tasks if t.get_name().startswith("consume-")], return_exceptions=True)
            runtime.relay.stop()
            if runtime.scheduler is not None:
                runtime.scheduler.stop()
            for task in tasks[1:]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if spec.on_shutdown:
                await spec.on_shutdown(runtime)
            await runtime.producer.stop()
            await runtime.pool.close()

    app = FastAPI(title=spec.title or f"retention {spec.name}", lifespan=lifespan)
    app.state.runtime = runtime
    install_observability(app, runtime)
    for router in spec.routers(runtime):
        app.include_router(router)
    if spec.configure_app is not None:
        spec.configure_app(app, runtime)
    return app


def _consumer_factory(runtime: Runtime, subscription: Subscription) -> Callable[[], BatchConsumer]:
    def build() -> BatchConsumer:
        return BatchConsumer(
            service=runtime.service,
            subscription=subscription,
            pool=runtime.pool,
            producer=runtime.producer,
            contract=runtime.contract,
            metrics=runtime.metrics,
            after_commit=runtime.relay.wake,
        )

    return build


#: Allocations (net) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Exclude everything built at start-up (modules, schemas, pools) from the cyclic garbage collector, and collect
    the young generation less often.

    A worker's start-up heap is large and lives forever, yet each full collection walked it again: measured
    with `bench/kernel_batch.py`'s path, collections took ~20% of a busy worker's CPU, and 4% after freezing.
    A batch's own objects (decoded events, profiles, emitted envelopes) all live until its transaction ends, so at
    CPython's default of 700 every young collection found them alive and promoted them, and the older generations
    kept walking them. Timed with `gc.callbacks` in a segments worker per 20,000 events: 1,820 collections took
    0.46 s (~11% of its CPU) at 700, 180 took 0.26 s at 5,000, about 40 took 0.18 s at 20,000, and 12 took 0.22 s
    at 50,000 (18 ms pauses), all with the same peak RSS. Reference counting still frees everything at once; only
    the search for cycles runs less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _crash_on_failure(task: asyncio.Task[Any]) -> None:
    """A background loop that dies is a bug: exit so the supervisor restarts the process."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        crash_process(exc)
