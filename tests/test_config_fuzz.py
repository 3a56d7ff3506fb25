"""Fuzzing the config loader: whatever the file holds, the only failure is a UsageError."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgevision.config import Config, iter_fields, parse_config_text, validate_config
from edgevision.errors import UsageError

# Real key names make the fuzzer reach deep into the schema instead of failing at the top.
KEYS = sorted({path.split(".")[-1].removesuffix("[]") for path, _ in iter_fields()} | {"porch", "x", "$"})
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["demo", "0", "mqtt://h", "${HOME}", "$${X}", "${NOT_SET_ANYWHERE}", "${}", "0.0.0.0", "5"])
)  # fmt: skip
keys = st.sampled_from(KEYS) | st.text(max_size=6) | st.integers() | st.booleans() | st.none()
documents = st.recursive(
    scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5), max_leaves=30
)


leaf = scalars | st.lists(scalars, max_size=3) | st.lists(st.lists(scalars, max_size=3), max_size=4)
near_valid = st.fixed_dictionaries(
    {"cameras": st.dictionaries(
        st.sampled_from(["porch", "a b", "1", ""]),
        st.fixed_dictionaries({"source": scalars}, optional={
            "models": st.lists(st.fixed_dictionaries({"path": scalars}, optional={
                "score_threshold": scalars, "family": scalars, "labels": scalars}), max_size=2),
            "zones": st.dictionaries(st.text(max_size=4), leaf, max_size=2),
            "labels_to_keep": leaf, "loop": scalars, "read_timeout_s": scalars,
        }), max_size=2)},
    optional={
        "outputs": st.fixed_dictionaries({}, optional={
            "mqtt": st.fixed_dictionaries({"url": scalars}, optional={"protocol": scalars, "rate": scalars, "cert": scalars}),
            "http": st.fixed_dictionaries({}, optional={"host": scalars, "port": scalars, "token": scalars}),
            "record": st.fixed_dictionaries({"path": scalars}), "stdout": scalars}),
        "runtime": st.dictionaries(st.sampled_from(["threads", "delegate", "delegate_fallback", "max_frames"]), scalars),
    },
)  # fmt: skip


def _validate(data: object) -> None:
    try:
        assert isinstance(validate_config(data), Config)
    except UsageError as exc:
        assert str(exc) and "Traceback" not in str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
@example({"[key]": None})  # pydantic's own marker for a bad dict key, as a user's key
@example({"cameras": {"[key]": None}})
def test_any_data_is_a_config_or_a_usage_error(data):
    _validate(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid)
@example({"cameras": {"porch": {"source": "~0"}}})  # "~0" reads as the home of a user "0"
def test_configs_close_to_valid_ones(data):
    _validate(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_parses_or_is_a_usage_error(text):
    try:
        data = parse_config_text(text)
    except UsageError:
        return
    _validate(data)


@settings(max_examples=100, deadline=None)
@given(documents)
def test_yaml_round_trip_through_the_file_parser(data):
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    _validate(parse_config_text(text))
