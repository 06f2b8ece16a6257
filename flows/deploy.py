"""Scheduled refreshes: register the refresh flow as a Prefect deployment with a cron schedule.

Two ways to run it, both documented in the README:
- `fragilite deploy --cron ... --work-pool NAME`: registers the deployment on the Prefect server
  (PREFECT_API_URL); a worker of that pool (`prefect worker start --pool NAME`) runs it;
- `fragilite deploy --serve --cron ...`: registers it and runs it from this process (no work pool).
The worker must run in an environment where fragilite is installed (the same venv): the
deployment names the flow by its module path, whatever folder `deploy` ran in.
"""

from __future__ import annotations

from uuid import UUID

from flows.refresh import refresh

DEFAULT_CRON = "0 6 2 * *"   # the 2nd of each month at 06:00: INSEE and ANCT publish early in the month
DEFAULT_NAME = "mensuel"


def deployment(name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON, parameters: dict | None = None,
               timezone: str = "Europe/Paris"):
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.types.entrypoint import EntrypointType

    # the flow is found by its module path (flows.refresh.refresh) in the installed package, not
    # by a file path relative to where `deploy` ran: a worker runs it from its own temporary folder
    # _sync=True: Prefect picks its async twin when an event loop runs in this thread (a Jupyter
    # kernel, or Playwright's sync API in the same test session) and returns a coroutine
    return refresh.to_deployment(
        _sync=True,
        entrypoint_type=EntrypointType.MODULE_PATH,
        name=name,
        schedule=CronSchedule(cron=cron, timezone=timezone),
        parameters=parameters or {},
        tags=["fragilite"],
        description="fragilite: download what changed, recompute what depends on it, write the layers",
    )


def register(name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON, parameters: dict | None = None,
             work_pool: str | None = None, timezone: str = "Europe/Paris") -> UUID:
    return deployment(name, cron, parameters, timezone).apply(work_pool_name=work_pool, _sync=True)


def serve(name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON, parameters: dict | None = None,
          timezone: str = "Europe/Paris") -> None:  # pragma: no cover - long-running
    from prefect import serve as prefect_serve

    prefect_serve(deployment(name, cron, parameters, timezone))
