"""The limiter, the mock clock and the limit settings, under a frozen clock (no server)."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.clock import DEFAULT_EPOCH, MockClock
from mockserver.config import LimitSpec, Settings, load_settings
from mockserver.errors import ConfigError
from mockserver.ratelimit import (
    PRUNE_EVERY,
    WINDOW_SECONDS,
    RateLimiter,
    estimate_tokens,
)

WS, MODEL = "default", "gpt-4o"


def limiter(rpm: int = 500, tpm: int = 60_000) -> tuple[MockClock, RateLimiter]:
    clock = MockClock(frozen=True)
    return clock, RateLimiter(clock, rpm, tpm)


def usage(limits: RateLimiter) -> list[dict[str, object]]:
    return limits.usage()


# Token estimate.
@pytest.mark.parametrize(
    ("characters", "per_token", "tokens"),
    [(0, 4, 0), (1, 4, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2), (9, 3, 3), (10, 3, 4), (7, 1, 7)],
)
def test_estimate_is_ceil_of_characters_over_chars_per_token(characters, per_token, tokens):
    assert estimate_tokens(characters, per_token) == tokens


def test_estimate_is_exact_for_huge_counts():
    assert estimate_tokens(4 * 10**20 + 1) == 10**20 + 1


# Request windows.
def test_a_request_exactly_60_s_after_the_first_counts_again():
    clock, limits = limiter(rpm=1)
    assert limits.acquire(WS, MODEL, 1, 1).allowed
    clock.advance(59.999)
    refused = limits.acquire(WS, MODEL, 1, 1)
    assert not refused.allowed
    assert refused.reason == "requests"
    assert refused.retry_after == pytest.approx(0.001, abs=1e-6)
    assert refused.headers()["Retry-After"] == "1"
    clock.advance(0.001)
    assert limits.acquire(WS, MODEL, 1, 1).allowed


def test_unreported_acquire_counts_alike_and_returns_only_refusals():
    _, quiet = limiter(rpm=2)
    _, loud = limiter(rpm=2)
    for _ in range(2):
        assert quiet.acquire(WS, MODEL, 3, 7, report=False) is None
        assert loud.acquire(WS, MODEL, 3, 7).allowed
    assert quiet.usage() == loud.usage()
    refused = quiet.acquire(WS, MODEL, 3, 7, report=False)
    assert refused is not None
    assert not refused.allowed
    assert refused.reason == "requests"


def test_window_edge_holds_for_a_time_that_is_not_a_round_number():
    clock = MockClock(DEFAULT_EPOCH + 0.1, frozen=True)
    limits = RateLimiter(clock, 1, 100)
    assert limits.acquire(WS, MODEL, 1, 1).allowed
    clock.advance(WINDOW_SECONDS)
    assert limits.acquire(WS, MODEL, 1, 1).allowed


def test_retry_after_is_time_until_the_oldest_counted_request_leaves():
    clock, limits = limiter(rpm=2)
    limits.acquire(WS, MODEL, 1, 1)
    clock.advance(10)
    limits.acquire(WS, MODEL, 1, 1)
    clock.advance(5.5)
    refused = limits.acquire(WS, MODEL, 1, 1)
    assert refused.retry_after == pytest.approx(44.5)
    assert refused.headers() == {
        "X-RateLimit-Limit-Requests": "2",
        "X-RateLimit-Remaining-Requests": "0",
        "X-RateLimit-Limit-Tokens": "60000",
        "X-RateLimit-Remaining-Tokens": "59998",
        "Retry-After": "45",
    }


def test_headers_of_an_allowed_request_report_what_remains_and_no_retry_after():
    _, limits = limiter(rpm=3, tpm=100)
    decision = limits.acquire(WS, MODEL, 10, 30)
    assert decision.headers() == {
        "X-RateLimit-Limit-Requests": "3",
        "X-RateLimit-Remaining-Requests": "2",
        "X-RateLimit-Limit-Tokens": "100",
        "X-RateLimit-Remaining-Tokens": "70",
    }


def test_rpm_zero_refuses_everything_for_a_whole_window():
    _, limits = limiter(rpm=0)
    refused = limits.acquire(WS, MODEL, 1, 1)
    assert not refused.allowed
    assert refused.retry_after == WINDOW_SECONDS
    assert "0 requests per minute for model gpt-4o" in refused.message(MODEL)


# Token windows.
def test_prompt_exactly_the_remaining_budget_is_allowed_one_more_is_not():
    _, limits = limiter(tpm=100)
    assert limits.acquire(WS, MODEL, 60, 60).allowed
    refused = limits.acquire(WS, MODEL, 41, 41)
    assert not refused.allowed
    assert refused.reason == "tokens"
    assert refused.remaining_tokens == 40
    assert limits.acquire(WS, MODEL, 40, 40).allowed
    assert usage(limits)[0]["tokens"] == 100


def test_token_retry_waits_until_enough_tokens_leave():
    clock, limits = limiter(tpm=100)
    limits.acquire(WS, MODEL, 60, 60)
    clock.advance(10)
    limits.acquire(WS, MODEL, 40, 40)
    clock.advance(10)
    # 50 more tokens fit only once the 60 counted at t=0 leave (at t=60): 40 s from t=20.
    assert limits.acquire(WS, MODEL, 50, 50).retry_after == pytest.approx(40)
    # 10 tokens cannot fit either until then; nothing leaves earlier.
    assert limits.acquire(WS, MODEL, 10, 10).retry_after == pytest.approx(40)
    clock.advance(40)
    assert limits.acquire(WS, MODEL, 50, 50).allowed


def test_completion_may_overdraw_the_budget_and_the_next_request_waits():
    clock, limits = limiter(tpm=100)
    allowed = limits.acquire(WS, MODEL, 10, 250)
    assert allowed.allowed
    assert allowed.remaining_tokens == 0
    refused = limits.acquire(WS, MODEL, 1, 1)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(60)
    clock.advance(60)
    assert limits.acquire(WS, MODEL, 1, 1).allowed


def test_prompt_larger_than_the_limit_is_refused_and_says_why():
    _, limits = limiter(tpm=100)
    refused = limits.acquire(WS, MODEL, 101, 120)
    assert not refused.allowed
    assert refused.retry_after == WINDOW_SECONDS
    assert "101 tokens are more than the 100 tokens per minute" in refused.message(MODEL)
    assert usage(limits) == []
    assert limits.size() == (0, 0)


def test_token_refusal_message_names_the_limit_and_the_model():
    _, limits = limiter(tpm=10)
    limits.acquire(WS, MODEL, 10, 10)
    message = limits.acquire(WS, MODEL, 1, 1).message(MODEL)
    assert message == "Rate limit exceeded: 10 tokens per minute for model gpt-4o in this workspace"


def test_a_refused_request_changes_nothing():
    clock, limits = limiter(rpm=2, tpm=50)
    limits.acquire(WS, MODEL, 20, 30)
    clock.advance(1)
    limits.acquire(WS, MODEL, 10, 10)
    before = usage(limits), limits.size()
    assert not limits.acquire(WS, MODEL, 1, 1).allowed  # requests
    assert (usage(limits), limits.size()) == before
    limits.set_limits(WS, MODEL, 10, None)
    before = usage(limits), limits.size()
    assert not limits.acquire(WS, MODEL, 11, 11).allowed  # tokens
    assert (usage(limits), limits.size()) == before


# Buckets and limits.
def test_buckets_are_per_workspace_and_per_model():
    _, limits = limiter(rpm=1)
    assert limits.acquire("a", "m1", 1, 1).allowed
    assert not limits.acquire("a", "m1", 1, 1).allowed
    assert limits.acquire("a", "m2", 1, 1).allowed
    assert limits.acquire("b", "m1", 1, 1).allowed
    assert {(r["workspace"], r["model"], r["requests"]) for r in usage(limits)} == {
        ("a", "m1", 1),
        ("a", "m2", 1),
        ("b", "m1", 1),
    }


def test_limits_for_prefers_model_then_workspace_then_default():
    _, limits = limiter(rpm=500, tpm=60_000)
    assert limits.limits_for("a", "m") == (500, 60_000)
    limits.set_limits("a", None, 50, 5000)
    assert limits.limits_for("a", "m") == (50, 5000)
    limits.set_limits("a", "m", 5, None)
    assert limits.limits_for("a", "m") == (5, 5000)
    assert limits.limits_for("a", "other") == (50, 5000)
    assert limits.limits_for("b", "m") == (500, 60_000)


def test_setting_every_model_replaces_the_per_model_limits_of_that_workspace_only():
    _, limits = limiter()
    limits.set_limits("a", "m", 5, 5)
    limits.set_limits("b", "m", 6, 6)
    limits.set_limits("a", None, 7, None)
    assert limits.limits_for("a", "m") == (7, 60_000)
    assert limits.limits_for("b", "m") == (6, 6)


def test_start_up_limits_let_the_per_model_one_win_whatever_the_order():
    _, limits = limiter()
    limits.configure([LimitSpec("a", "m", rpm=3), LimitSpec("a", None, rpm=30, tpm=300)])
    assert limits.limits_for("a", "m") == (3, 300)
    assert limits.limits_for("a", "x") == (30, 300)


def test_a_lowered_limit_applies_to_what_the_window_already_holds():
    _, limits = limiter(rpm=5)
    for _ in range(3):
        limits.acquire(WS, MODEL, 1, 1)
    limits.set_limits(WS, MODEL, 2, None)
    assert not limits.acquire(WS, MODEL, 1, 1).allowed


# Memory.
def test_requests_at_one_frozen_instant_share_one_entry():
    _, limits = limiter()
    for _ in range(400):
        limits.acquire(WS, MODEL, 1, 1)
    assert limits.size() == (1, 1)
    assert usage(limits)[0]["requests"] == 400


def test_old_entries_and_empty_windows_are_dropped_however_long_it_runs():
    clock, limits = limiter(rpm=10**9, tpm=10**12)
    for step in range(20 * PRUNE_EVERY):
        limits.acquire(f"ws{step % 50}", MODEL, 1, 1)
        clock.advance(0.25)
    windows, entries = limits.size()
    assert windows <= 50
    assert entries <= 240 + PRUNE_EVERY  # one window's worth, plus at most one sweep's backlog
    clock.advance(60)
    limits.prune()
    assert limits.size() == (0, 0)


def test_clear_usage_keeps_limits():
    _, limits = limiter(rpm=1)
    limits.set_limits(WS, MODEL, 1, 10)
    limits.acquire(WS, MODEL, 1, 1)
    limits.clear_usage()
    assert limits.acquire(WS, MODEL, 1, 1).allowed
    assert limits.limits_for(WS, MODEL) == (1, 10)


def test_a_deep_copy_shares_the_clock_and_owns_its_counts():
    clock, limits = limiter(rpm=1)
    limits.set_limits("a", "m", 2, 2)
    limits.acquire(WS, MODEL, 1, 1)
    twin = copy.deepcopy(limits)
    assert twin._clock is clock
    assert not twin.acquire(WS, MODEL, 1, 1).allowed
    limits.clear_usage()
    assert not twin.acquire(WS, MODEL, 1, 1).allowed
    assert twin.limits_for("a", "m") == (2, 2)


# Property: the limiter equals a brute-force model of sliding windows.
arrivals = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([0.0, 0.001, 1.0, 59.999, 60.0, 60.001]),
            st.floats(0, 90, allow_nan=False),
        ),
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    max_size=80,
)


@given(rpm=st.integers(0, 6), tpm=st.integers(0, 120), requests=arrivals)
def test_no_window_ever_holds_more_than_the_limit_and_refusals_change_nothing(rpm, tpm, requests):
    clock, limits = limiter(rpm=rpm, tpm=tpm)
    counted: list[tuple[float, int, int]] = []  # (time, prompt, total) of allowed requests
    for step, prompt, completion in requests:
        clock.advance(step)
        now = clock.now()
        live = [(at, total) for at, _, total in counted if not at + WINDOW_SECONDS <= now]
        used = sum(total for _, total in live)
        expected = len(live) < rpm and prompt <= tpm - used
        before = usage(limits)
        decision = limits.acquire(WS, MODEL, prompt, prompt + completion)
        assert decision.allowed is expected
        if decision.allowed:
            counted.append((now, prompt, prompt + completion))
        else:
            assert usage(limits) == before
            assert 0 < decision.retry_after <= WINDOW_SECONDS
    # No window of 60 s holds more than rpm requests, and every counted prompt fitted.
    for index, (at, prompt, _) in enumerate(counted):
        earlier = [c for c in counted[:index] if not c[0] + WINDOW_SECONDS <= at]
        assert len(earlier) + 1 <= rpm
        assert sum(total for _, _, total in earlier) + prompt <= tpm


# The clock.
def test_frozen_clock_moves_only_when_advanced():
    clock = MockClock(1000.0, frozen=True)
    assert clock.now() == 1000.0
    assert clock.advance(2.5) == 1002.5
    assert clock.now() == 1002.5
    assert clock.frozen


def test_clock_unfreezes_where_it_stood_and_refreezes_where_it_ran_to():
    clock = MockClock(1000.0, frozen=True)
    clock.advance(10)
    clock.freeze(False)
    assert not clock.frozen
    assert 1010.0 <= clock.now() < 1070.0
    clock.freeze()
    stood = clock.now()
    assert clock.now() == stood >= 1010.0


def test_running_clock_runs_from_its_start():
    clock = MockClock(5000.0)
    first = clock.now()
    assert 5000.0 <= first <= clock.now() < 5060.0


@pytest.mark.parametrize("seconds", [-1.0, math.inf, math.nan, 1e300])
def test_clock_refuses_a_bad_step_and_stays_where_it_was(seconds):
    clock = MockClock(1000.0, frozen=True)
    with pytest.raises(ConfigError, match="advance"):
        clock.advance(seconds)
    assert clock.now() == 1000.0


def test_clock_state_and_restore_and_reset():
    clock = MockClock(1000.0, frozen=True)
    clock.advance(5)
    saved = clock.state()
    clock.advance(100)
    clock.freeze(False)
    clock.restore(saved)
    assert (clock.now(), clock.frozen) == (1005.0, True)
    clock.reset()
    assert (clock.now(), clock.frozen) == (1000.0, True)


# Limit settings.
@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("default:rpm=5,tpm=100", LimitSpec("default", None, 5, 100)),
        ("w/gpt-4o:rpm=5", LimitSpec("w", "gpt-4o", 5, None)),
        (
            "w/claude-sonnet-4-5@20250929:tpm=9",
            LimitSpec("w", "claude-sonnet-4-5@20250929", None, 9),
        ),
        ("w/llama3:8b:rpm=1", LimitSpec("w", "llama3:8b", 1, None)),
        ("w/org/model: rpm = 0 ", LimitSpec("w", "org/model", 0, None)),
    ],
)
def test_limit_spec_parses_the_cli_form(text, spec):
    assert LimitSpec.parse(text) == spec


@pytest.mark.parametrize(
    "text", ["", "w", "w:", ":rpm=1", "w:rpm", "w:rpm=x", "w:rpm=-1", "w:rps=1", "w:rpm=1,"]
)
def test_limit_spec_refuses_a_malformed_text(text):
    with pytest.raises(ConfigError, match="limits"):
        LimitSpec.parse(text)


@pytest.mark.parametrize(
    "fields",
    [{"rpm": -1}, {"tpm": 1.5}, {"rpm": True}, {}],
    ids=["negative", "float", "bool", "none"],
)
def test_limit_spec_refuses_bad_numbers(fields):
    with pytest.raises(ConfigError, match="limits"):
        LimitSpec("w", None, **fields)


def test_limits_add_up_from_file_then_env_then_cli(tmp_path):
    config = tmp_path / "mock.toml"
    config.write_text(
        "default_rpm = 50\n"
        '[[limits]]\nworkspace = "default"\nmodel = "gpt-4o"\nrpm = 1\ntpm = 10\n'
        '[[limits]]\nworkspace = "other"\ntpm = 20\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        env={
            "LANGDOCK_MOCK_LIMITS": "default/gpt-4o:rpm=2  x:rpm=3",
            "LANGDOCK_MOCK_DEFAULT_TPM": "7",
        },
        overrides={"limits": ("default/gpt-4o:tpm=11",), "default_rpm": None},
    )
    assert (settings.default_rpm, settings.default_tpm) == (50, 7)
    assert settings.limits == (
        LimitSpec("default", "gpt-4o", 1, 10),
        LimitSpec("other", None, None, 20),
        LimitSpec("default", "gpt-4o", 2, None),
        LimitSpec("x", None, 3, None),
        LimitSpec("default", "gpt-4o", None, 11),
    )
    _, limits = limiter(settings.default_rpm, settings.default_tpm)
    limits.configure(settings.limits)
    assert limits.limits_for("default", "gpt-4o") == (2, 11)
    assert limits.limits_for("other", "gpt-4o") == (50, 20)


@pytest.mark.parametrize(
    "table",
    ['workspace = "w"\nrpm = 1\nburst = 2\n', "rpm = 1\n", 'workspace = "w"\nrpm = "many"\n'],
    ids=["unknown-field", "no-workspace", "string-number"],
)
def test_a_bad_limits_table_is_a_config_error(tmp_path, table):
    config = tmp_path / "mock.toml"
    config.write_text("[[limits]]\n" + table, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(config, env={})


def test_limits_pass_through_settings_to_the_state():
    from mockserver.schemas import load_bundle
    from mockserver.state import MockState

    settings = Settings(limits=(LimitSpec("default", "gpt-4o", rpm=1),), freeze_clock=True)
    state = MockState(settings, load_bundle(None, "seed"))
    assert state.limiter.limits_for("default", "gpt-4o") == (1, 60_000)
    state.set_limits("default", "gpt-4o", 9, None)
    with pytest.raises(ConfigError):
        state.set_limits("default", None, -1, None)
    state.reset()
    assert state.limiter.limits_for("default", "gpt-4o") == (1, 60_000)
