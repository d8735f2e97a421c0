"""What `kubectl qwen` prints (the screens of `qwenops.kubectl`): pure, table-driven, with a fixed `now`."""

import re
from datetime import timedelta
from importlib import metadata
from typing import Any

import pytest

from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import QwenDeploymentStatus
from qwenops.kubectl import plugin
from qwenops.kubectl.screens.history import render_history
from qwenops.kubectl.screens.requests import describe_request, refusal, summary, undo_target
from qwenops.kubectl.screens.status import render_status
from qwenops.kubectl.screens.times import ago, human_duration
from qwenops.policy.undo import resolve_target
from tests import status_fixtures as f

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIXTURES = {
    "healthy": f.healthy,
    "canary at step 2/3": f.canary_at_step_2,
    "paused": f.paused,
    "rolled back": f.rolled_back,
    "downloading": f.downloading,
    "failed verification": f.failed_verification,
    "child conflict": f.child_conflict,
    "baking": f.baking,
}


def plain(obj: dict[str, Any]) -> str:
    return render_status(obj, f.NOW)


def lines_of(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith(label)]


def test_the_fixtures_are_statuses_the_operator_writes() -> None:
    for make in FIXTURES.values():
        QwenDeploymentStatus.model_validate(make()["status"])


CANARY_SCREEN = """\
Name:          chat
Namespace:     llm
Phase:         Progressing
Message:       step 2/3 at 50%: waiting for pause; last reading Passed

Stable:        7d9f4c2a1b  Qwen/Qwen3-8B@9c925d6
Canary:        a1b2c3d4e5  Qwen/Qwen3-8B@1f2e3d4  started 12m ago
  Steps:       10% ok -> [50%] -> 80% -> 100%
  Step:        2/3 (50% declared)
  Weight:      50% of traffic since 3m ago
  Pause:       7m left of 10m
Pods:          Ready  revision a1b2c3d4e5, since 4m ago
  Stages:      2 Ready

Analysis:      Passed  20s ago
  Requests:    812 in 2m (at least 100 to judge)
  Failures:    0/2 consecutive failed readings (a rollback at 2)
  SLO                      READING  THRESHOLD  RESULT
  error rate               0.246%   <= 1%      ok
  p95 latency              3.1s     <= 10s     ok
  p95 time to first token  420ms    <= 1s      ok
  error rate vs stable     1.23x    <= 2x      ok

Last rollback: b7c8d9e0f1 (Qwen/Qwen3-8B@eeeeeee), 2d4h ago
  Reason:      SLOBreached: SLO breached over 2m: p95LatencySeconds: p95 latency 12.3s > 10s
Conditions:    none abnormal
"""


def test_a_canary_at_step_2_of_3_with_a_passing_reading_whole_screen() -> None:
    assert plain(f.canary_at_step_2()) == CANARY_SCREEN


@pytest.mark.parametrize(
    ("fixture", "shown", "not_shown"),
    [
        (
            "healthy",
            ["Phase:         Healthy", "Stable:        7d9f4c2a1b  Qwen/Qwen3-8B@9c925d6",
             "Previous:      5e6f7a8b9c  Qwen/Qwen3-8B@0a1b2c3", "Canary:        none",
             "Pods:          Ready  revision 7d9f4c2a1b, since 3d ago", "idle: no canary",
             "Last rollback: none recorded", "Conditions:    none abnormal"],
            ["Steps:", "READING"],
        ),
        (
            "paused",
            ["Phase:         Paused", "Steps:       10% ok -> 50% ok -> [80%] -> 100%", "Step:        3/3 (80% declared)",
             "Weight:      80% of traffic since 60s ago",
             "Pause:       none: paused until promoted (kubectl qwen promote -n llm chat)",
             "Analysis:      Inconclusive  70s ago, taken at the previous step",
             "Held:        inconclusive: 90 requests in 2m < 100: too few to judge",
             "error rate               -        <= 1%      not judged",
             "Conditions:    AnalysisInconclusive=True (ReadingInconclusive) 70s ago"],
            ["left of"],
        ),
        (
            "rolled back",
            ["Phase:         RolledBack",
             "Canary:        none: revision a1b2c3d4e5 was rolled back and stays at 0 pods "
             "(kubectl qwen retry -n llm chat tries it again)",
             "Analysis:      Failed  2m ago, the reading at the rollback",
             "Failures:    2/2 consecutive failed readings",
             "error rate               6.03%    <= 1%      FAIL",
             "p95 latency              3.4s     <= 10s     ok",
             "error rate vs stable     -        <= 2x      skipped",
             "Last rollback: a1b2c3d4e5 (Qwen/Qwen3-8B@1f2e3d4), 2m ago",
             "Reason:      SLOBreached: SLO breached over 2m: maxErrorRate: error ratio 6.03% (49 of 812 requests) "
             "> 1% at 99% confidence (p=2.1e-19)",
             "Conditions:    SLOBreached=True (ReadingFailed) 2m30s ago"],
            ["query:", "sum(increase", "Previous:"],
        ),
        (
            "downloading",
            ["Phase:         Progressing", "Pods:          Downloading  revision 7d9f4c2a1b, since 3m ago",
             "Stages:      2 Downloading", "Detail:      fetching Qwen/Qwen3-8B@9c925d6",
             "Budget:      ready within 25m50s of the revision's start: 16.4 GB (spec.model.size), cold cache",
             "Conditions:    Available=False (ReplicasNotReady) 3m ago"],
            ["ModelReady=False"],  # still on its way: not trouble
        ),
        (
            "child conflict",
            ["Phase:         Degraded",
             "Message:       Service llm/chat has no owner (made by hand or by a tool such as Helm): delete it "
             "or rename this QwenDeployment; revision 7d9f4c2a1b serving on 2/2 replicas",
             "Conditions:    ChildConflict=True (NameTaken) 3m ago: Service llm/chat has no owner"],
            ["none abnormal"],
        ),
        (
            "failed verification",
            ["Phase:         Failed", "Pods:          VerificationFailed  revision 7d9f4c2a1b, since 6m ago",
             "Stages:      1 VerificationFailed, 1 Verifying",
             "Detail:      VerificationFailed: model-00002-of-00004.safetensors: sha256 is 5f3a1c",
             "Conditions:    Available=False (VerificationFailed) 3m ago\n",
             "ModelReady=False (VerificationFailed) 3m ago: revision 7d9f4c2a1b: 1 VerificationFailed"],
            [],
        ),
    ],
)  # fmt: skip
def test_each_moment_says_what_on_call_needs(fixture: str, shown: list[str], not_shown: list[str]) -> None:
    text = plain(FIXTURES[fixture]())
    for expected in shown:
        assert expected in text, f"{expected!r} not in\n{text}"
    for unexpected in not_shown:
        assert unexpected not in text, f"{unexpected!r} in\n{text}"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_without_colour_there_is_no_escape_code_and_every_mark_is_ascii(fixture: str) -> None:
    text = plain(FIXTURES[fixture]())
    assert "\x1b" not in text
    ours = text.replace("\u2026", "")  # the operator's own message may carry an ellipsis
    assert ours.isascii(), [line for line in ours.splitlines() if not line.isascii()]


@pytest.mark.parametrize(
    ("fixture", "phase", "code"),
    [
        ("healthy", "Healthy", "32"),
        ("canary at step 2/3", "Progressing", "33"),
        ("paused", "Paused", "33"),
        ("rolled back", "RolledBack", "31"),
        ("failed verification", "Failed", "31"),
        ("child conflict", "Degraded", "31"),
        ("baking", "Baking", "32"),
    ],
)
def test_with_colour_the_phase_is_green_yellow_or_red(fixture: str, phase: str, code: str) -> None:
    text = render_status(FIXTURES[fixture](), f.NOW, color=True, unicode=True)
    assert f"\x1b[{code};1m{phase}\x1b[0m" in text
    assert ANSI.sub("", text).splitlines()[2] == f"Phase:         {phase}"


def test_unicode_marks_on_a_terminal() -> None:
    text = ANSI.sub("", render_status(f.canary_at_step_2(), f.NOW, color=True, unicode=True))
    assert "Steps:       10% \u2714 \u2192 [50%] \u2192 80% \u2192 100%" in text
    assert "error rate               0.246%   \u2264 1%       \u2714" in text
    failed = ANSI.sub("", render_status(f.rolled_back(), f.NOW, color=True, unicode=True))
    assert "6.03%    \u2264 1%       \u2718" in failed


def test_colour_does_not_move_the_columns() -> None:
    coloured = ANSI.sub("", render_status(f.rolled_back(), f.NOW, color=True, unicode=False))
    assert coloured == plain(f.rolled_back())


@pytest.mark.parametrize(
    ("slos", "rows"),
    [
        ({"p95LatencySeconds": 10}, ["p95 latency"]),
        ({"maxErrorRate": 0.01, "p95TimeToFirstTokenSeconds": 1}, ["error rate", "p95 time to first token"]),
        (f.SLOS, ["error rate", "p95 latency", "p95 time to first token", "error rate vs stable"]),
        ({"maxErrorRateVsStable": 2}, ["error rate vs stable"]),
    ],
)
def test_the_slo_table_shows_exactly_the_declared_slos(slos: dict[str, Any], rows: list[str]) -> None:
    obj = f.canary_at_step_2()
    obj["spec"] = f.spec(slos=slos)
    text = plain(obj)
    table = text.split("  SLO ")[1].split("\n\n")[0].splitlines()[1:]
    assert [re.split(r"\s{2,}", row.strip())[0] for row in table] == rows


def test_no_slo_declared_says_the_steps_go_by_their_pauses() -> None:
    obj = f.canary_at_step_2()
    obj["spec"] = f.spec(slos={})
    del obj["spec"]["rollout"]["analysis"]["prometheus"]
    text = plain(obj)
    assert "Analysis:      no SLO declared: each step is judged by its pause alone" in text
    assert "READING" not in text


def test_a_vs_stable_check_not_applied_is_skipped() -> None:
    obj = f.canary_at_step_2()
    checks = obj["status"]["analysis"]["checks"]
    vs_stable = next(c for c in checks if c["slo"] == "maxErrorRateVsStable")
    vs_stable.update(outcome="Skipped")
    del vs_stable["value"]
    assert "error rate vs stable     -        <= 2x      skipped" in plain(obj)


@pytest.mark.parametrize(
    ("shift", "started", "pause"),
    [
        (timedelta(0), "started 12m ago", "Pause:       7m left of 10m"),
        (timedelta(minutes=6, seconds=30), "started 18m ago", "Pause:       30s left of 10m"),
        (
            timedelta(minutes=8),
            "started 20m ago",
            "Pause:       10m, over: waiting for a passing analysis reading",
        ),
        (timedelta(hours=5, minutes=3), "started 5h15m ago", "10m, over"),
        (timedelta(days=2), "started 2d ago", "10m, over"),
    ],
)
def test_times_are_relative_to_the_given_now(shift: timedelta, started: str, pause: str) -> None:
    text = render_status(f.canary_at_step_2(), f.NOW + shift)
    assert started in text
    assert pause in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (119, "119s"), (200, "3m20s"), (600, "10m"), (7199, "119m"), (3 * 3600 + 300, "3h5m"),
     (9 * 3600, "9h"), (50 * 3600, "2d2h"), (10 * 86400, "10d")],
)  # fmt: skip
def test_human_durations_read_like_kubectl_ages(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def test_a_time_ahead_of_now_says_so() -> None:
    assert ago(f.NOW + timedelta(minutes=5), f.NOW) == "in 5m"
    assert ago(None, f.NOW) == "?"


def test_a_step_whose_pods_are_not_ready_has_no_weight_yet() -> None:
    obj = f.canary_at_step_2()
    del obj["status"]["canary"]["stepStartedAt"]
    obj["status"]["canary"]["weight"] = 0
    text = plain(obj)
    assert "Weight:      0%: waiting for the step's pods to be ready" in text
    assert "Pause:       10m, from when the step's pods are ready" in text


def test_a_canary_past_its_steps_is_promoting() -> None:
    obj = f.canary_at_step_2()
    obj["status"]["canary"].update(step=3, promoting=True)
    text = plain(obj)
    assert "Steps:       10% ok -> 50% ok -> 80% ok -> [100%]" in text
    assert "Step:        every step passed: scaling to full size to take over" in text


def test_a_reading_of_an_earlier_canary_is_not_shown_as_this_ones() -> None:
    obj = f.canary_at_step_2()
    obj["status"]["analysis"]["at"] = "2026-03-01T02:40:00Z"  # before the canary started
    text = plain(obj)
    assert "Analysis:      no reading yet: every 30s over 2m once the step's weight is in effect" in text
    assert "error rate               -        <= 1%      -" in text


def test_an_object_the_operator_never_reconciled() -> None:
    text = plain(f.obj(None))
    assert "Phase:         Unknown" in text
    assert "no status yet: the operator has not reconciled this object (is it running?)" in text
    assert "Stable:        none yet" in text


def test_a_spec_the_operator_has_not_seen_yet_is_pointed_out() -> None:
    obj = f.canary_at_step_2()
    obj["metadata"]["generation"] = 5
    assert "Observed:      generation 4 of 5: the operator has not acted on the latest spec yet" in plain(obj)


def test_fields_it_does_not_know_and_a_refused_spec_do_not_break_it() -> None:
    obj = f.canary_at_step_2()
    obj["status"]["somethingNewer"] = {"x": 1}
    obj["status"]["canary"]["weight"] = "fifty"
    obj["spec"]["rollout"]["steps"] = [{"weight": 10, "pause": "soon"}, "garbage", {"weight": 50}]
    obj["spec"]["rollout"]["analysis"]["slos"] = {"maxErrorRate": "1%", "p95LatencySeconds": 10}
    text = plain(obj)
    assert "Steps:       10% ok -> [50%] -> 100%" in text
    assert "p95 latency" in text
    assert "error rate " not in text


def test_an_undo_in_effect_is_shown() -> None:
    obj = f.healthy()
    obj["status"]["override"] = {
        "revision": f.OLDER, "model": obj["status"]["previous"]["model"], "engine": {}, "nodePool": {},
        "specRevision": f.STABLE, "at": "2026-03-01T02:55:00Z",
    }  # fmt: skip
    assert (
        "Override:      undo 5m ago: serving 5e6f7a8b9c (Qwen/Qwen3-8B@0a1b2c3) instead of the spec's "
        "7d9f4c2a1b until the spec changes"
    ) in plain(obj)


# -- history -------------------------------------------------------------------------------------------


def test_history_is_newest_first_and_marks_the_revision_serving() -> None:
    text = render_history(f.canary_at_step_2(), f.NOW)
    assert text.splitlines() == [
        "   REVISION    MODEL                  OUTCOME     WHEN      REASON",
        "*  7d9f4c2a1b  Qwen/Qwen3-8B@9c925d6  Promoted    3d ago    every step passed",
        "   b7c8d9e0f1  Qwen/Qwen3-8B@eeeeeee  RolledBack  2d4h ago  SLOBreached: SLO breached over 2m: "
        "p95LatencySeconds: p95 latency 12.3s > 10s",
        "   5e6f7a8b9c  Qwen/Qwen3-8B@0a1b2c3  Promoted    9d ago    every step passed",
        "",
        "* serving now",
    ]


def test_history_wide_keeps_each_breached_slos_query() -> None:
    assert "; query: histogram_quantile(0.95" in render_history(f.canary_at_step_2(), f.NOW, wide=True)


def test_a_query_with_a_pipe_in_its_regex_is_elided_whole() -> None:
    text = render_history(f.rolled_back(), f.NOW)
    assert "/v1/chat/completions" not in text
    assert text.splitlines()[1].endswith("> 1% at 99% confidence (p=2.1e-19)")


def test_history_says_which_revision_replaced_a_canary() -> None:
    obj = f.canary_at_step_2()
    obj["status"]["history"].append({
        "revision": f.CANARY, "model": obj["status"]["canary"]["model"], "outcome": "Replaced",
        "at": "2026-03-01T02:58:00Z", "reason": "at step 1 (33%)", "replacedBy": "0f1e2d3c4b",
    })  # fmt: skip
    newest = render_history(obj, f.NOW).splitlines()[1]
    assert newest.split()[2:] == ["Replaced", "2m", "ago", "by", "0f1e2d3c4b", "at", "step", "1", "(33%)"]


def test_no_history_yet() -> None:
    assert render_history(f.downloading(), f.NOW) == "no history yet for llm/chat\n"


# -- requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "verb", "refused"),
    [
        ("canary at step 2/3", "promote", None),
        ("canary at step 2/3", "abort", None),
        ("canary at step 2/3", "retry", "nothing is rolled back (phase Progressing)"),
        ("canary at step 2/3", "undo", None),
        ("paused", "promote", None),
        ("healthy", "promote", "no canary is running (phase Healthy)"),
        ("healthy", "abort", "no canary is running (phase Healthy)"),
        ("healthy", "retry", "nothing is rolled back (phase Healthy)"),
        ("healthy", "undo", None),
        ("rolled back", "promote", "no canary is running (phase RolledBack); revision a1b2c3d4e5 was rolled back: "
                                   "`kubectl qwen retry -n llm chat` tries it again"),
        ("rolled back", "abort", "no canary is running (phase RolledBack)"),
        ("rolled back", "retry", None),
        ("downloading", "undo", "there is no earlier promoted revision to go back to"),
        ("failed verification", "retry", "nothing is rolled back (phase Failed)"),
        ("baking", "promote", None),  # ends the bake
        ("baking", "abort", None),  # rolls the new stable back
        ("baking", "undo", None),
        ("baking", "retry", "nothing is rolled back (phase Baking)"),
    ],
)  # fmt: skip
def test_a_request_that_makes_no_sense_is_refused(fixture: str, verb: str, refused: str | None) -> None:
    assert refusal(verb, FIXTURES[fixture]()) == refused


def test_a_bake_shows_its_time_left_and_its_way_back() -> None:
    obj = f.baking()
    text = plain(obj)
    assert lines_of(text, "Bake:") == [
        "Bake:          28m left: the analysis judges the stable; 5e6f7a8b9c kept warm on 1 pod(s), the way back "
        "(kubectl qwen undo -n llm chat, or a breach)"
    ]
    assert not lines_of(text, "Previous:"), "the bake line names it"
    assert (
        describe_request("abort", obj)
        == "roll revision 7d9f4c2a1b back to 5e6f7a8b9c, on its warm pods first"
    )
    assert (
        describe_request("promote", obj)
        == "end the bake of revision 7d9f4c2a1b now and remove revision 5e6f7a8b9c"
    )


def test_history_says_a_rollback_came_after_promotion() -> None:
    obj = f.baking()
    obj["status"]["history"].append({
        "revision": f.STABLE, "model": obj["status"]["stable"]["model"], "outcome": "RolledBack",
        "at": "2026-03-01T02:59:00Z", "reason": "SLOBreached: error rate 30% > 1%", "afterPromotion": True,
    })  # fmt: skip
    newest = render_history(obj, f.NOW).splitlines()[1]
    assert newest.split()[2:] == ["RolledBack", "60s", "ago", "after", "promotion:", "SLOBreached:", "error",
                                  "rate", "30%", ">", "1%"]  # fmt: skip


def test_promote_while_promoting_is_refused() -> None:
    obj = f.canary_at_step_2()
    obj["status"]["canary"].update(step=3, promoting=True)
    assert refusal("promote", obj) == "canary a1b2c3d4e5 is already being promoted (every step passed)"
    assert refusal("abort", obj) is None


@pytest.mark.parametrize(
    ("fixture", "change", "target"),
    [
        ("canary at step 2/3", {}, ("7d9f4c2a1b", "Qwen/Qwen3-8B@9c925d6")),  # drop the canary
        ("healthy", {}, ("5e6f7a8b9c", "Qwen/Qwen3-8B@0a1b2c3")),  # status.previous
        ("rolled back", {}, None),  # one promoted revision: nowhere to go
        ("canary at step 2/3", {"canary": None}, None),  # no status.previous: nowhere to go
        ("downloading", {}, None),
    ],
)
def test_undo_goes_back_to_the_stable_or_the_previous_revision(
    fixture: str, change: dict[str, Any], target: tuple[str, str] | None
) -> None:
    status = FIXTURES[fixture]()["status"]
    status.update(change)
    assert undo_target({k: v for k, v in status.items() if v is not None}) == target


@pytest.mark.parametrize("fixture", list(FIXTURES))
def test_undo_names_the_revision_the_operator_then_serves(fixture: str) -> None:
    obj = FIXTURES[fixture]()
    status = QwenDeploymentStatus.model_validate(obj["status"])
    spec = QwenDeploymentSpec.model_validate(obj["spec"])
    named = status.canary or status.stable
    assert named is not None
    undone = resolve_target(spec, named.revision, status, {"qwenops.io/undo": "now"}, f.NOW, 4)
    target = undo_target(obj["status"])
    assert (target[0] if target else None) == (undone.revision if undone.status.override else None)


@pytest.mark.parametrize(
    ("fixture", "verb", "said"),
    [
        ("canary at step 2/3", "promote", "end step 2/3 of canary a1b2c3d4e5 now and go on to step 3/3"),
        ("paused", "promote", "end step 3/3 of canary a1b2c3d4e5 now and promote it to take over"),
        ("canary at step 2/3", "abort", "roll canary a1b2c3d4e5 back to the stable revision 7d9f4c2a1b"),
        ("rolled back", "retry", "start rolled-back revision a1b2c3d4e5 again as a canary"),
        ("healthy", "undo", "serve revision 5e6f7a8b9c (Qwen/Qwen3-8B@0a1b2c3) instead of the spec's until the spec changes"),
        ("healthy", "promote", "promote (forced)"),
    ],
)  # fmt: skip
def test_a_request_says_what_it_will_do(fixture: str, verb: str, said: str) -> None:
    assert describe_request(verb, FIXTURES[fixture]()) == said


def test_the_summary_of_a_result_is_one_line_without_queries() -> None:
    assert summary(f.rolled_back()) == (
        "RolledBack: revision a1b2c3d4e5 rolled back (SLOBreached): SLO breached over 2m: maxErrorRate: "
        "error ratio 6.03% (49 of 812 requests) > 1% at 99% confidence (p=2.1e-19)"
    )


def test_kubectl_qwen_says_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        plugin.parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"kubectl qwen {metadata.version('qwenops')}"


def test_capacity_missing_within_a_budget_is_one_line_with_since_when() -> None:
    obj = f.rolled_back()
    since = (f.NOW - timedelta(minutes=2)).isoformat()
    message = "3 of 8 serving replicas missing (5 ready)"
    obj["status"]["capacity"] = {"missing": 3, "serving": 5, "since": since, "message": message}
    QwenDeploymentStatus.model_validate(obj["status"])  # as the operator writes it
    assert lines_of(plain(obj), "Capacity:") == [f"Capacity:      {message}, since 2m ago"]
    assert lines_of(plain(f.rolled_back()), "Capacity:") == []


def test_the_slo_table_shows_the_declared_probe_checks_with_their_readings() -> None:
    obj = f.canary_at_step_2()
    prompt = {"name": "hello", "messages": [{"role": "user", "content": "hi"}]}
    obj["spec"]["rollout"]["analysis"]["probes"] = {"prompts": [prompt], "maxFailureRateVsStable": 2}
    obj["status"]["analysis"]["checks"] += [
        {"slo": "probes.minPassRate", "outcome": "Failed", "value": 0.5, "threshold": 1},
        {"slo": "probes.maxFailureRateVsStable", "outcome": "Skipped", "threshold": 2},
    ]
    text = plain(obj)
    table = text.split("  SLO ")[1].split("\n\n")[0].splitlines()[1:]
    rows = [re.split(r"\s{2,}", row.strip()) for row in table]
    assert rows[-2:] == [
        ["probe pass rate", "50%", ">= 100%", "FAIL"],
        ["probe failures vs stable", "-", "<= 2x", "skipped"],
    ]
