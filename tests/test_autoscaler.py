"""tools/autoscaler.py against the KEDA 2.20 and Kubernetes HPA rules its docstrings cite."""

from __future__ import annotations

import math

import pytest

from tools.autoscaler import (
    Autoscaler,
    Fallback,
    ScalerError,
    ScalingSpec,
    SpecError,
    Trigger,
    fallback_replicas,
    scaler_value,
)

SYNC = 15.0


def scaled_object(**spec) -> dict:
    """A ScaledObject with an AverageValue in-flight trigger and a Value latency trigger."""
    base = {
        "minReplicaCount": 1,
        "maxReplicaCount": 8,
        "triggers": [
            {
                "type": "prometheus",
                "name": "inflight",
                "metricType": "AverageValue",
                "metadata": {"query": "q1", "threshold": "24", "ignoreNullValues": "false"},
            },
            {
                "type": "prometheus",
                "name": "p95",
                "metricType": "Value",
                "metadata": {"query": "q2", "threshold": "0.5", "ignoreNullValues": "false"},
            },
        ],
    }
    return {"metadata": {"name": "app"}, "spec": {**base, **spec}}


def behaviour(up: dict | None = None, down: dict | None = None) -> dict:
    return {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": up, "scaleDown": down}}}


def sync(scaler: Autoscaler, t: float, inflight, p95=(0.0,)):
    as_list = lambda v: None if v is None else list(v)  # noqa: E731
    return scaler.sync(t, {"inflight": as_list(inflight), "p95": as_list(p95)})


def test_the_rendered_scaled_objects_are_read_with_their_behaviour(rendered):
    for env in ("dev", "prod"):
        obj = next(m for m in rendered[env].app("swin-t").manifests if m.kind == "ScaledObject")
        spec = ScalingSpec.from_scaled_object(obj.obj)
        raw = obj.obj["spec"]
        assert (spec.min_replicas, spec.max_replicas) == (
            raw["minReplicaCount"],
            raw["maxReplicaCount"],
        )
        behavior = raw["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        window = behavior["scaleDown"]["stabilizationWindowSeconds"]
        assert spec.scale_down.stabilization_window_seconds == window
        assert [t.ignore_null_values for t in spec.triggers] == [False, False]
        assert spec.fallback == Fallback(
            raw["fallback"]["failureThreshold"],
            raw["fallback"]["replicas"],
            raw["fallback"]["behavior"],
        )


def test_keda_and_hpa_defaults_fill_what_the_scaled_object_leaves_out():
    obj = {
        "spec": {"triggers": [{"type": "prometheus", "metadata": {"query": "q", "threshold": "1"}}]}
    }
    spec = ScalingSpec.from_scaled_object(obj)
    assert (spec.min_replicas, spec.max_replicas, spec.polling_interval) == (0, 100, 30)
    assert spec.triggers[0].metric_type == "AverageValue"
    assert spec.triggers[0].ignore_null_values is True
    assert spec.scale_up.stabilization_window_seconds == 0
    assert [(p.type, p.value, p.period_seconds) for p in spec.scale_up.policies] == [
        ("Percent", 100, 15),
        ("Pods", 4, 15),
    ]
    assert spec.scale_down.stabilization_window_seconds == 300
    assert spec.scale_up.tolerance == spec.scale_down.tolerance == 0.1


def test_a_trigger_the_model_cannot_follow_is_refused_by_field():
    with pytest.raises(SpecError, match=r"spec.triggers\[0\].type 'cpu'"):
        ScalingSpec.from_scaled_object({"spec": {"triggers": [{"type": "cpu"}]}})


@pytest.mark.parametrize(
    ("result", "ignore", "expected"),
    [
        ([], True, 0.0),
        ([math.nan], True, 0.0),
        ([math.inf], True, 0.0),
        ([3.5], False, 3.5),
    ],
)
def test_the_prometheus_scaler_reads_empty_and_nan_as_zero_only_with_ignore_null_values(
    result, ignore, expected
):
    trigger = Trigger("t", "AverageValue", "q", 1.0, ignore_null_values=ignore)
    assert scaler_value(trigger, result) == expected


@pytest.mark.parametrize("result", [[], [math.nan], [1.0, 2.0]])
def test_without_ignore_null_values_empty_nan_and_several_series_are_errors(result):
    with pytest.raises(ScalerError):
        scaler_value(Trigger("t", "Value", "q", 1.0, ignore_null_values=False), result)


def test_average_value_divides_the_total_by_the_replicas_with_a_10_percent_tolerance():
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(scaled_object()))
    assert sync(scaler, 0, [26.0]).proposed == 1  # 26 / 24 = 1.08: within tolerance
    assert sync(scaler, SYNC, [27.0]).proposed == 2  # 1.125: ceil(27 / 24)
    scaler.replicas = 4
    assert sync(scaler, 2 * SYNC, [60.0]).proposed == 3  # ceil(60 / 24), down from 4


def test_value_multiplies_the_ratio_by_the_ready_replicas():
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(scaled_object()))
    scaler.replicas = 2
    decision = sync(scaler, 0, [0.0], [1.0])
    assert [r.replicas for r in decision.readings] == [0, 4]  # ceil(0 / 24), ceil(1.0 / 0.5 * 2)
    assert decision.proposed == 4  # the larger proposal wins
    assert scaler.replicas == 4
    assert sync(scaler, SYNC, [0.0], [0.54]).readings[1].replicas == 4  # within tolerance


def test_scale_up_is_limited_by_the_pods_policy_per_period():
    spec = ScalingSpec.from_scaled_object(
        scaled_object(
            advanced=behaviour(
                up={
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
                }
            )
        )
    )
    scaler = Autoscaler.start(spec)
    desired = [sync(scaler, t * SYNC, [24.0 * 8]).desired for t in range(10)]
    # +2 at once, then nothing until the first event is 60 s old, then +2 again.
    assert desired == [3, 3, 3, 3, 5, 5, 5, 5, 7, 7]


def test_select_policy_min_takes_the_policy_that_allows_the_smallest_change():
    up = {
        "selectPolicy": "Min",
        "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15},
            {"type": "Pods", "value": 1, "periodSeconds": 15},
        ],
    }
    scaler = Autoscaler.start(
        ScalingSpec.from_scaled_object(scaled_object(advanced=behaviour(up=up)))
    )
    scaler.replicas = 4
    assert sync(scaler, 0, [24.0 * 8]).desired == 5  # Pods +1 rather than Percent +4


def test_scale_down_waits_for_the_stabilization_window_then_follows_the_policy():
    down = {
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
    }
    scaler = Autoscaler.start(
        ScalingSpec.from_scaled_object(scaled_object(advanced=behaviour(down=down)))
    )
    scaler.replicas = 4
    assert sync(scaler, 0, [24.0 * 4]).desired == 4  # the last high recommendation at t=0
    idle = {int(t): sync(scaler, t, [0.0]).desired for t in range(15, 600, 15)}
    assert set(idle[t] for t in range(15, 300, 15)) == {4}  # within the window
    assert idle[300] == 3  # the t=0 recommendation has left the 300 s window
    assert idle[405] == 3 and idle[420] == 2  # one pod per 120 s
    assert idle[540] == 1  # down to minReplicaCount


def test_an_invalid_metric_blocks_scale_down_but_not_scale_up():
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(scaled_object()))
    scaler.replicas = 3
    held = sync(scaler, 0, None, [0.0])
    assert (held.desired, held.reason) == (3, "invalid metrics: hold")
    assert sync(scaler, SYNC, None, [3.0]).desired > 3
    assert sync(scaler, 2 * SYNC, None, None).reason == "invalid metrics: hold"


def test_the_fallback_starts_after_more_than_failure_threshold_failures():
    fallback = {"failureThreshold": 3, "replicas": 4}
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(scaled_object(fallback=fallback)))
    decisions = [sync(scaler, t * SYNC, [], []) for t in range(5)]
    assert [d.fallback_active for d in decisions] == [False, False, False, True, True]
    assert [d.desired for d in decisions] == [1, 1, 1, 4, 4]
    assert decisions[3].readings[0].value == 24 * 4  # AverageValue: target * replicas
    assert decisions[3].readings[1].value == pytest.approx(0.5 * 4 / 1)  # Value: / ready
    assert sync(scaler, 5 * SYNC, [0.0], [0.0]).fallback_active is False  # recovers at once


@pytest.mark.parametrize(
    ("behavior", "current", "expected"),
    [
        ("static", 6, 4),
        ("currentReplicas", 6, 6),
        ("currentReplicasIfHigher", 6, 6),
        ("currentReplicasIfHigher", 2, 4),
        ("currentReplicasIfLower", 6, 4),
        ("currentReplicasIfLower", 2, 2),
    ],
)
def test_fallback_behavior_picks_the_count_to_hold(behavior, current, expected):
    assert fallback_replicas(Fallback(3, 4, behavior), current) == expected


def test_a_static_fallback_below_the_current_count_scales_down_after_the_window():
    fallback = {"failureThreshold": 0, "replicas": 2, "behavior": "static"}
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(scaled_object(fallback=fallback)))
    scaler.replicas = 6
    assert sync(scaler, 0, [24.0 * 6], [0.0]).desired == 6
    desired = [sync(scaler, t * SYNC, [], []).desired for t in range(1, 25)]
    assert desired[0] == 6 and desired[-1] == 2  # what currentReplicasIfHigher avoids


def test_with_min_zero_activation_decides_zero_and_one_and_cooldown_delays_zero():
    obj = scaled_object(minReplicaCount=0, cooldownPeriod=60)
    obj["spec"]["triggers"][0]["metadata"]["activationThreshold"] = "2"
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(obj))
    assert sync(scaler, 0, [1.0]).desired == 1  # inactive, cooldown not over
    assert sync(scaler, 60, [1.0]).desired == 0  # inactive for cooldownPeriod
    assert sync(scaler, 75, [1.5]).desired == 0  # under the activation threshold
    assert sync(scaler, 90, [3.0]).desired == 1  # active: KEDA scales 0 -> 1


def test_with_a_minimum_of_one_activation_changes_nothing():
    obj = scaled_object()
    obj["spec"]["triggers"][0]["metadata"]["activationThreshold"] = "100"
    scaler = Autoscaler.start(ScalingSpec.from_scaled_object(obj))
    assert sync(scaler, 0, [60.0]).desired == 3  # not active, scaled all the same
