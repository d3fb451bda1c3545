"""Where the catalogue's services run, as the probes, shadow replays and remediation see them.

`ServiceRuntimeResource` is the live runtime: service URLs are used as the catalogue writes them,
every day is probed live, and remediation targets come from the remediator's configuration. The
demo plugs in a subclass (`observability_assets.demo.resources`) that starts `demo://NAME`
services inside the process and replays their simulated probe history; nothing here knows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import dagster as dg

from observability_assets.core.service_catalogue import DEMO_SCHEME, Service, ServiceCatalogue
from resources.remediator import RemediatorResource, ServiceTarget

if TYPE_CHECKING:
    import pandas as pd


class ServiceRuntimeResource(dg.ConfigurableResource):
    """The live runtime: services answer at the URLs the catalogue gives."""

    def resolver(self, urls: Iterable[str]) -> Callable[[str], str]:
        """How to reach each of `urls`; live, as written. `demo://` URLs need demo mode."""
        demo = sorted({url for url in urls if urlsplit(url).scheme == DEMO_SCHEME})
        if demo:
            raise ValueError(
                f"{', '.join(demo)}: demo:// services run only in demo mode (VIGIL_MODE=demo); "
                "give the catalogue (VIGIL_SERVICES) real http(s) URLs"
            )
        return lambda url: url

    def recorded_days(self, catalogue: ServiceCatalogue, days: Sequence[date]) -> list[date]:
        """Which of `days` load a recorded history instead of live probes: none when live."""
        return []

    def recorded_day(
        self, catalogue: ServiceCatalogue, day: date
    ) -> tuple[pd.DataFrame, pd.DataFrame]:  # pragma: no cover - only the demo records history
        """(the day's recorded probes, the warm-up probes before it) for a day `recorded_days` named."""
        raise NotImplementedError("the live runtime has no recorded history")

    def target(self, service: Service, remediator: RemediatorResource) -> ServiceTarget:
        """Where to probe and act on `service`: its catalogue URLs and the configured admin endpoint."""
        return remediator.target_for(service)
