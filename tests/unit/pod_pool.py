"""A pool of GPUs, simulated for the policy's tests: pods scheduled on it one GPU each, loading
for a while, terminating for a while, and the Deployments' replicas they follow."""

import random
from dataclasses import dataclass, field

from qwenops.policy.budget import PodCount, Pods


@dataclass
class Pod:
    revision: str
    state: str  # Pending, Loading, Ready, Terminating
    until: int = 0


@dataclass
class Cluster:
    """A pool of `gpus` GPUs (one a pod), pods that load for `load` ticks, terminate for `grace`."""

    gpus: int
    load: random.Random
    grace: int
    now: int = 0
    pods: list[Pod] = field(default_factory=list)
    wanted: dict[str, int] = field(default_factory=dict)
    waited: int = 0
    """Pod-ticks spent Pending for want of a GPU."""

    def count(self, revision: str) -> Pods:
        mine = [p for p in self.pods if p.revision == revision]
        live = [p for p in mine if p.state != "Terminating"]
        return Pods(
            self.wanted.get(revision, 0),
            len(live),
            sum(p.state == "Ready" for p in live),
            len(mine) - len(live),
        )

    def scale(self, revision: str, replicas: int) -> None:
        self.wanted[revision] = replicas
        live = [p for p in self.pods if p.revision == revision and p.state != "Terminating"]
        for _ in range(replicas - len(live)):
            self.pods.append(Pod(revision, "Pending"))
        order = {"Pending": 0, "Loading": 1, "Ready": 2}  # a Deployment removes not-ready pods first
        for pod in sorted(live, key=lambda p: order[p.state])[: max(0, len(live) - replicas)]:
            pod.state, pod.until = "Terminating", self.now + self.grace

    def tick(self) -> None:
        self.now += 1
        self.pods = [p for p in self.pods if not (p.state == "Terminating" and p.until <= self.now)]
        for pod in self.pods:
            if pod.state == "Loading" and pod.until <= self.now:
                pod.state = "Ready"
        for pod in self.pods:
            if pod.state == "Pending":
                if sum(p.state != "Pending" for p in self.pods) < self.gpus:
                    pod.state, pod.until = "Loading", self.now + self.load.randint(2, 6)
                else:
                    self.waited += 1

    @property
    def requested(self) -> int:
        return len(self.pods)

    def counted(self) -> dict[str, PodCount]:
        """Every revision's pods, as `controller.observe.pod_counts` counts them."""
        revisions = {p.revision for p in self.pods}
        return {r: PodCount(c.live, c.ready, c.terminating) for r in revisions for c in [self.count(r)]}
