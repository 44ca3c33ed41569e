"""What KEDA v2.20 and the Kubernetes HPA would decide from a ScaledObject's trigger values.

A model of the two controllers, small enough to read against their documentation, used by
the end-to-end test (tests/e2e) to turn the values Prometheus returns for the rendered
ScaledObject's queries into replica counts. Sources, at the versions this repository pins:

- KEDA ScaledObject spec 2.20 (fallback, advanced.horizontalPodAutoscalerConfig):
  https://keda.sh/docs/2.20/reference/scaledobject-spec/
- KEDA Prometheus scaler 2.20 (ignoreNullValues, activationThreshold):
  https://keda.sh/docs/2.20/scalers/prometheus/ and its code, pkg/scalers/prometheus_scaler.go
  (ExecutePromQuery) and pkg/fallback/fallback.go at tag v2.20.2
- KEDA activation vs scaling: https://keda.sh/docs/2.20/concepts/scaling-deployments/
- Kubernetes HPA algorithm, tolerance, several metrics, behavior (stabilization windows,
  policies, selectPolicy) and its defaults:
  https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
  and pkg/controller/podautoscaler/{horizontal.go,replica_calculator.go} in kubernetes.

What is modelled and what is not is said where it matters; the main simplification is that
every replica the HPA asks for is ready at once (no pod start-up time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# kube-controller-manager --horizontal-pod-autoscaler-sync-period default: the HPA looks at
# its metrics (and so asks KEDA for them) this often.
HPA_SYNC_PERIOD_S = 15.0
# --horizontal-pod-autoscaler-tolerance default, used unless behavior sets its own.
DEFAULT_TOLERANCE = 0.1

# KEDA's ScaledObject defaults (scaledobject-spec, "Overview").
KEDA_DEFAULTS = {
    "minReplicaCount": 0,
    "maxReplicaCount": 100,
    "pollingInterval": 30,
    "cooldownPeriod": 300,
}


class SpecError(Exception):
    """The ScaledObject cannot be modelled; the message names the field."""


@dataclass(frozen=True)
class Trigger:
    """One KEDA prometheus trigger, as the scaler reads its metadata."""

    name: str
    metric_type: Literal["AverageValue", "Value"]
    query: str
    threshold: float
    activation_threshold: float = 0.0
    ignore_null_values: bool = True  # the scaler's default: an empty answer reads as 0

    @classmethod
    def from_manifest(cls, index: int, trigger: dict) -> Trigger:
        where = f"spec.triggers[{index}]"
        if trigger.get("type") != "prometheus":
            raise SpecError(f"{where}.type {trigger.get('type')!r}: only prometheus is modelled")
        meta = trigger.get("metadata", {})
        metric_type = trigger.get("metricType", "AverageValue")
        if metric_type not in ("AverageValue", "Value"):
            raise SpecError(f"{where}.metricType {metric_type!r} is not modelled")
        ignore = str(meta.get("ignoreNullValues", "true")).lower()
        if ignore not in ("true", "false"):
            raise SpecError(f"{where}.metadata.ignoreNullValues {ignore!r} is not true/false")
        return cls(
            name=trigger.get("name") or f"s{index}-prometheus",
            metric_type=metric_type,
            query=meta["query"],
            threshold=float(meta["threshold"]),
            activation_threshold=float(meta.get("activationThreshold", 0)),
            ignore_null_values=ignore == "true",
        )


@dataclass(frozen=True)
class Policy:
    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction of HPA behavior, with the API's defaults filled in."""

    stabilization_window_seconds: int
    policies: tuple[Policy, ...]
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    tolerance: float = DEFAULT_TOLERANCE

    # The defaults the API server fills in (HPA docs, "Default Behavior").
    @classmethod
    def from_manifest(cls, rules: dict | None, direction: Literal["up", "down"]) -> ScalingRules:
        rules = rules or {}
        if direction == "up":
            window = 0
            default_policies = (Policy("Percent", 100, 15), Policy("Pods", 4, 15))
        else:
            window = 300
            default_policies = (Policy("Percent", 100, 15),)
        policies = tuple(
            Policy(p["type"], int(p["value"]), int(p["periodSeconds"]))
            for p in rules.get("policies") or []
        )
        return cls(
            stabilization_window_seconds=int(rules.get("stabilizationWindowSeconds", window)),
            policies=policies or default_policies,
            select_policy=rules.get("selectPolicy", "Max"),
            tolerance=float(rules.get("tolerance", DEFAULT_TOLERANCE)),
        )


@dataclass(frozen=True)
class Fallback:
    failure_threshold: int
    replicas: int
    behavior: str = "static"


@dataclass(frozen=True)
class ScalingSpec:
    """The parts of a ScaledObject that decide replica counts."""

    name: str
    min_replicas: int
    max_replicas: int
    polling_interval: int
    cooldown_period: int
    triggers: tuple[Trigger, ...]
    fallback: Fallback | None
    scale_up: ScalingRules
    scale_down: ScalingRules

    @classmethod
    def from_scaled_object(cls, obj: dict) -> ScalingSpec:
        spec = obj.get("spec", {})
        if spec.get("advanced", {}).get("scalingModifiers"):
            raise SpecError("spec.advanced.scalingModifiers is not modelled")
        get = {k: int(spec.get(k, default)) for k, default in KEDA_DEFAULTS.items()}
        behavior = (
            spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        )
        fallback = spec.get("fallback")
        if fallback and fallback.get("behavior", "static") not in FALLBACK_BEHAVIORS:
            raise SpecError(f"spec.fallback.behavior {fallback['behavior']!r} is not modelled")
        return cls(
            name=obj.get("metadata", {}).get("name", ""),
            min_replicas=get["minReplicaCount"],
            max_replicas=get["maxReplicaCount"],
            polling_interval=get["pollingInterval"],
            cooldown_period=get["cooldownPeriod"],
            triggers=tuple(
                Trigger.from_manifest(i, t) for i, t in enumerate(spec.get("triggers", []))
            ),
            fallback=Fallback(
                int(fallback["failureThreshold"]),
                int(fallback["replicas"]),
                fallback.get("behavior", "static"),
            )
            if fallback
            else None,
            scale_up=ScalingRules.from_manifest(behavior.get("scaleUp"), "up"),
            scale_down=ScalingRules.from_manifest(behavior.get("scaleDown"), "down"),
        )


FALLBACK_BEHAVIORS = (
    "static",
    "currentReplicas",
    "currentReplicasIfHigher",
    "currentReplicasIfLower",
)


class ScalerError(Exception):
    """What the KEDA scaler reports instead of a value; the HPA then has no valid metric."""


def scaler_value(trigger: Trigger, result: list[float]) -> float:
    """The value KEDA's prometheus scaler hands on for one instant-query result.

    `result` holds the value of each series in the answer. As ExecutePromQuery in v2.20:
    no series, or a NaN/Inf value, is 0 with ignoreNullValues (the default) and an error
    without it; more than one series is always an error.
    """
    if not result:
        if trigger.ignore_null_values:
            return 0.0
        raise ScalerError(f"{trigger.name}: the result is empty (target may be lost)")
    if len(result) > 1:
        raise ScalerError(f"{trigger.name}: the query returned {len(result)} series, not one")
    value = result[0]
    if math.isnan(value) or math.isinf(value):
        if trigger.ignore_null_values:
            return 0.0
        raise ScalerError(f"{trigger.name}: the query returned {value}")
    return value


def milli(value: float) -> int:
    """KEDA hands values to the HPA as milli-quantities (GenerateMetricInMili: int64(v*1000))."""
    return int(value * 1000)


@dataclass
class TriggerState:
    """KEDA's health record for one trigger (ScaledObject status.health)."""

    failures: int = 0


@dataclass
class MetricReading:
    """What the HPA got for one trigger in one sync."""

    trigger: str
    raw: list[float] | None  # the query's series values; None when the query itself failed
    value: float | None  # what KEDA handed on; None when it reported an error
    fallback: bool = False
    error: str = ""
    replicas: int | None = None  # this metric's proposal, None when invalid


@dataclass
class Decision:
    """One HPA sync: what it read, what it proposed, and the replica count it set."""

    time: float
    current: int
    readings: list[MetricReading]
    proposed: int | None  # max over valid metrics, None when the HPA could not compute
    stabilized: int
    desired: int
    reason: str

    @property
    def fallback_active(self) -> bool:
        return any(r.fallback for r in self.readings)


def fallback_replicas(fallback: Fallback, current: int) -> int:
    """fallback.behavior (scaledobject-spec, "fallback.behavior"): which count to hold."""
    if fallback.behavior == "currentReplicas":
        return current
    if fallback.behavior == "currentReplicasIfHigher":
        return max(current, fallback.replicas)
    if fallback.behavior == "currentReplicasIfLower":
        return min(current, fallback.replicas)
    return fallback.replicas


def keda_metric(
    spec: ScalingSpec, trigger: Trigger, state: TriggerState, raw: list[float] | None, current: int
) -> MetricReading:
    """The metric KEDA gives the HPA for one trigger, fallback included.

    KEDA counts consecutive failures per trigger; once they exceed fallback.failureThreshold
    it stops reporting the error and returns `threshold * replicas` for AverageValue, or
    `threshold * replicas / ready replicas` for Value, so that the HPA's own arithmetic lands
    on the fallback count (fallback.go, doFallback). A Value trigger cannot fall back while
    no replica is ready. Without a fallback section the error reaches the HPA.
    Here every replica counts as ready, and one failure is counted per sync: KEDA 2.20
    counts in its polling loop and in each HPA request alike (scale_handler.go), so a real
    fallback can come up to twice as soon.
    """
    reading = MetricReading(trigger.name, raw, None)
    try:
        if raw is None:
            raise ScalerError(f"{trigger.name}: Prometheus could not be queried")
        reading.value = scaler_value(trigger, raw)
        state.failures = 0
        return reading
    except ScalerError as exc:
        reading.error = str(exc)
    if spec.fallback is None:
        return reading
    state.failures += 1
    if state.failures <= spec.fallback.failure_threshold:
        return reading
    replicas = fallback_replicas(spec.fallback, current)
    if trigger.metric_type == "Value":
        ready = current
        if ready == 0:
            reading.error += "; no ready replica, so no Value fallback"
            return reading
        reading.value = trigger.threshold * replicas / ready
    else:
        reading.value = trigger.threshold * replicas
    reading.fallback = True
    return reading


def metric_replicas(trigger: Trigger, value: float, current: int, rules: ScalingSpec) -> int:
    """The HPA's proposal for one external metric (replica_calculator.go).

    AverageValue (GetExternalPerPodMetricReplicas): ratio = value / (target * current);
    outside the tolerance the proposal is ceil(value / target), else the current count.
    Value (GetExternalMetricReplicas): ratio = value / target; outside the tolerance
    ceil(ratio * ready pods), else the current count. From zero replicas: ceil(ratio).
    The tolerance band is [1 - scaleDown.tolerance, 1 + scaleUp.tolerance].
    """
    usage, target = milli(value), milli(trigger.threshold)
    if trigger.metric_type == "AverageValue":
        if current == 0:
            return math.ceil(usage / target)
        ratio = usage / (target * current)
        if within_tolerance(ratio, rules):
            return current
        return math.ceil(usage / target)
    ratio = usage / target
    if current == 0:
        return math.ceil(ratio)
    if within_tolerance(ratio, rules):
        return current
    ready = current
    return math.ceil(ratio * ready)


def within_tolerance(ratio: float, spec: ScalingSpec) -> bool:
    return 1.0 - spec.scale_down.tolerance <= ratio <= 1.0 + spec.scale_up.tolerance


@dataclass
class _Event:
    time: float
    change: int


@dataclass
class Autoscaler:
    """KEDA plus the HPA it creates, for one ScaledObject; call `sync` once per HPA period.

    Holds what the real controllers hold between syncs: KEDA's failure counts per trigger,
    the HPA's recommendations (for the stabilization windows) and its scale events (for the
    policies' periods).
    """

    spec: ScalingSpec
    replicas: int
    health: dict[str, TriggerState] = field(default_factory=dict)
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[_Event] = field(default_factory=list)
    down_events: list[_Event] = field(default_factory=list)
    inactive_since: float | None = None

    @classmethod
    def start(cls, spec: ScalingSpec) -> Autoscaler:
        """As after the first sync with no load: at minReplicaCount (KEDA's HPA min is >= 1)."""
        return cls(spec, max(spec.min_replicas, 1))

    def sync(self, now: float, results: dict[str, list[float] | None]) -> Decision:
        """One HPA sync at controller time `now` (seconds) with each trigger's query result.

        `results[trigger.name]` is the list of series values Prometheus answered (empty for
        no series), or None when the query failed.
        """
        spec, current = self.spec, self.replicas
        readings = [
            keda_metric(
                spec, t, self.health.setdefault(t.name, TriggerState()), results[t.name], current
            )
            for t in spec.triggers
        ]
        if spec.min_replicas == 0:
            zero = self._activation(now, readings)
            if zero is not None:
                return zero
        hpa_min = max(spec.min_replicas, 1)
        if current > spec.max_replicas:
            return self._set(now, readings, None, spec.max_replicas, spec.max_replicas, "above max")
        if current < hpa_min:
            return self._set(now, readings, None, hpa_min, hpa_min, "below min")
        for trigger, reading in zip(spec.triggers, readings, strict=True):
            if reading.value is not None:
                reading.replicas = metric_replicas(trigger, reading.value, current, spec)
        valid = [r.replicas for r in readings if r.replicas is not None]
        proposed = max(valid) if valid else None
        # computeReplicasForMetrics: with any invalid metric the HPA scales only up; with all
        # invalid it does nothing. No recommendation is recorded for a failed sync.
        if proposed is None or (len(valid) < len(readings) and proposed < current):
            return self._set(now, readings, proposed, current, current, "invalid metrics: hold")
        stabilized = self._stabilize(now, current, proposed)
        desired = self._rate_limit(now, current, stabilized, hpa_min)
        reason = "hold" if desired == current else ("up" if desired > current else "down")
        return self._set(now, readings, proposed, stabilized, desired, reason)

    def _activation(self, now: float, readings: list[MetricReading]) -> Decision | None:
        """minReplicaCount 0 only: KEDA itself scales 0 -> 1 when a trigger's value exceeds
        its activationThreshold, and 1 -> 0 after cooldownPeriod without one. With a
        minimum of 1 or more, activation changes nothing."""
        active = any(
            r.fallback or (r.value is not None and r.value > t.activation_threshold)
            for t, r in zip(self.spec.triggers, readings, strict=True)
        )
        if active:
            self.inactive_since = None
            if self.replicas == 0:
                return self._set(now, readings, None, 1, 1, "activated")
            return None
        if any(r.value is None for r in readings):
            return None  # an error is not inactivity
        if self.inactive_since is None:
            self.inactive_since = now
        if self.replicas == 0 or now - self.inactive_since >= self.spec.cooldown_period:
            return self._set(now, readings, None, 0, 0, "inactive")
        return None

    def _stabilize(self, now: float, current: int, proposed: int) -> int:
        """stabilizeRecommendationWithBehaviors: the scale-up limit is the lowest proposal
        within scaleUp's window, the scale-down limit the highest within scaleDown's."""
        up_cut = now - self.spec.scale_up.stabilization_window_seconds
        down_cut = now - self.spec.scale_down.stabilization_window_seconds
        up, down = proposed, proposed
        for time, recommendation in self.recommendations:
            if time > up_cut:
                up = min(up, recommendation)
            if time > down_cut:
                down = max(down, recommendation)
        keep = max(
            self.spec.scale_up.stabilization_window_seconds,
            self.spec.scale_down.stabilization_window_seconds,
        )
        self.recommendations = [(t, r) for t, r in self.recommendations if t > now - keep]
        self.recommendations.append((now, proposed))
        return min(max(current, up), down)

    def _rate_limit(self, now: float, current: int, desired: int, hpa_min: int) -> int:
        """convertDesiredReplicasWithBehaviorRate: policies bound the change per period,
        counted from the replicas at the start of each policy's period; selectPolicy Max
        takes the policy allowing the biggest change, Min the smallest, Disabled none."""
        if desired == current:
            return desired
        up = desired > current
        rules = self.spec.scale_up if up else self.spec.scale_down
        if rules.select_policy == "Disabled":
            return current
        limits = []
        for p in rules.policies:
            start = (
                current
                - self._change(now, p, self.up_events)
                + self._change(now, p, self.down_events)
            )
            if up:
                limits.append(
                    start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
                )
            else:
                limits.append(
                    start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
                )
        biggest_change = max if up else min
        smallest_change = min if up else max
        limit = (biggest_change if rules.select_policy == "Max" else smallest_change)(limits)
        if up:
            return min(desired, self.spec.max_replicas, max(limit, current))
        return max(desired, hpa_min, min(limit, current))

    @staticmethod
    def _change(now: float, policy: Policy, events: list[_Event]) -> int:
        return sum(e.change for e in events if e.time > now - policy.period_seconds)

    def _set(self, now, readings, proposed, stabilized, desired, reason) -> Decision:
        decision = Decision(now, self.replicas, readings, proposed, stabilized, desired, reason)
        if desired > self.replicas:
            self.up_events.append(_Event(now, desired - self.replicas))
        elif desired < self.replicas:
            self.down_events.append(_Event(now, self.replicas - desired))
        self.replicas = desired
        return decision
