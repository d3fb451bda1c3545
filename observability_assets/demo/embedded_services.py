"""The embedded demo services behind ``demo://NAME`` URLs, started on demand once per process.

A catalogue entry ``base_url: demo://checkout`` (the default catalogue) or a shadow target
``demo://checkout-candidate`` names a local `DemoService`. The first use in a process starts it on
127.0.0.1 with a free port; later uses get the same service, so probes, shadow replays and fault
injection within one process talk to one instance. Names follow one convention:

    NAME             a service of its own
    NAME-replay      a twin of NAME (same seed and items): the second baseline shadow replays use
    NAME-candidate   a twin of NAME running the candidate version

Each process (every Dagster step subprocess) has its own instances: faults injected in one process
are not seen by another. Identity in the warehouse never depends on the port: probes record the
catalogue's ``demo://`` URL.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

from observability_assets.core.service_catalogue import DEMO_SCHEME, ServiceCatalogue
from observability_assets.demo.services import DemoService, DemoServices, DemoServiceSpec

REPLAY_SUFFIX = "-replay"
CANDIDATE_SUFFIX = "-candidate"


def spec_for(name: str) -> DemoServiceSpec:
    """The demo service a ``demo://`` name stands for (see the naming convention above)."""
    for suffix, version in ((REPLAY_SUFFIX, "baseline"), (CANDIDATE_SUFFIX, "candidate")):
        base = name.removesuffix(suffix)
        if base != name and base:
            return DemoServiceSpec(name, version=version, twin_of=base)
    return DemoServiceSpec(name)


@dataclass
class EmbeddedServices:
    """The demo services of this process, started as they are first asked for."""

    seed: int
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _groups: dict[str, DemoServices] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def service(self, name: str) -> DemoService:
        with self._lock:
            if name not in self._groups:
                # One DemoServices per name: each derives its seed from the seed and its own (or its
                # twin's) name, so starting services in any order gives the same behaviour.
                group = DemoServices([spec_for(name)], seed=self.seed, admin_token=self.admin_token)
                group.start()
                self._groups[name] = group
            return self._groups[name][name]

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._groups)

    def resolve(self, url: str) -> str:
        """``demo://NAME/path?q`` -> ``http://127.0.0.1:PORT/path?q``; other URLs unchanged."""
        parts = urlsplit(url)
        if parts.scheme != DEMO_SCHEME:
            return url
        base = self.service(parts.netloc).url
        return base + parts.path + (f"?{parts.query}" if parts.query else "")

    def resolve_catalogue(self, catalogue: ServiceCatalogue) -> ServiceCatalogue:
        """The catalogue with every ``demo://NAME`` base URL replaced by the running service's URL."""
        names = {urlsplit(s.base_url).netloc for s in catalogue if s.is_demo}
        return catalogue.with_base_urls({name: self.service(name).url for name in sorted(names)})

    def stop(self) -> None:
        with self._lock:
            groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            group.stop()


@cache
def embedded_services(seed: int = 7) -> EmbeddedServices:
    """This process's demo services for ``seed`` (one registry per process and seed)."""
    return EmbeddedServices(seed)
