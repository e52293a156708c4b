from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import final

import pytest

from service.config import LifeSettings, Settings, load_settings
from service.config.schema import Spec, Values, apply_layer, build, parse_text, setting
from service.errors import ConfigError

CONFIG_TOML = Path(__file__).resolve().parents[2] / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_equal_config_toml_key_for_key() -> None:
    with CONFIG_TOML.open("rb") as stream:
        on_disk = tomllib.load(stream)
    assert on_disk == dataclasses.asdict(Settings())
    assert load_settings(CONFIG_TOML, environ={}) == load_settings(environ={}) == Settings()


def test_every_key_in_config_toml_is_commented() -> None:
    lines = CONFIG_TOML.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\w+ = ", line):
            assert lines[number - 1].startswith("#"), f"config.toml line {number + 1}: {line}"


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 9000\n[jobs]\nshutdown_grace_s = 3\n")
    settings = load_settings(path, environ={})
    assert settings.http.port == 9000
    assert settings.jobs.shutdown_grace_s == 3.0
    assert isinstance(settings.jobs.shutdown_grace_s, float)
    assert settings.life == LifeSettings()


@pytest.mark.parametrize(
    ("name", "text", "section", "key", "expected"),
    [
        ("FANOUT_LIFE__MAX_CELLS", "1_000", "life", "max_cells", 1000),
        ("FANOUT_HTTP__PORT", " 9000 ", "http", "port", 9000),
        ("FANOUT_JOBS__SHUTDOWN_GRACE_S", "2.5", "jobs", "shutdown_grace_s", 2.5),
        ("FANOUT_HTTP__HOST", "0.0.0.0", "http", "host", "0.0.0.0"),
        ("FANOUT_LIFE__DEFAULT_ENGINE", "bitpacked", "life", "default_engine", "bitpacked"),
        ("FANOUT_life__max_threads", "8", "life", "max_threads", 8),
    ],
)
def test_environment_overrides_each_type(
    name: str, text: str, section: str, key: str, expected: object
) -> None:
    settings = load_settings(environ={name: text})
    assert getattr(getattr(settings, section), key) == expected


@final
@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    flag: bool = setting(False)
    ratio: float = setting(0.5, min=0.0, max=1.0)


@final
@dataclasses.dataclass(frozen=True, slots=True)
class _Root:
    demo: _Section = dataclasses.field(default_factory=_Section)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)],
)
def test_environment_bool_spellings(text: str, expected: bool) -> None:
    assert parse_text(bool, Spec(), text, "FANOUT_DEMO__FLAG") is expected


def test_a_declared_field_is_checked_without_code_of_its_own() -> None:
    values: Values = {}
    apply_layer(_Root, values, {"demo": {"flag": True, "ratio": 1}}, "demo.toml")
    assert build(_Root, values) == _Root(_Section(flag=True, ratio=1.0))
    with pytest.raises(
        ConfigError, match=re.escape("demo.toml: demo.flag = 1: must be true or false")
    ):
        apply_layer(_Root, values, {"demo": {"flag": 1}}, "demo.toml")
    with pytest.raises(
        ConfigError, match=re.escape("X: demo.flag = 'maybe': must be true or false")
    ):
        parse_text(bool, Spec(), "maybe", "X: demo.flag")


def test_environment_beats_file_and_overrides_beat_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 9000\n")
    environ = {"FANOUT_HTTP__PORT": "9001"}
    assert load_settings(path, environ=environ).http.port == 9001
    overridden = load_settings(path, environ=environ, overrides={"http": {"port": 9002}})
    assert overridden.http.port == 9002


def test_fanout_variables_without_double_underscore_are_ignored() -> None:
    environ = {"FANOUT_PASSWORD": "secret", "FANOUT_TOKEN": "t", "HOME": "/root"}
    assert load_settings(environ=environ) == Settings()


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.life = LifeSettings()  # type: ignore[misc]  # frozen on purpose: the assignment must fail
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.life.max_cells = 1  # type: ignore[misc]  # frozen on purpose: the assignment must fail


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[life]\nmax_cells = -5\n",
            "config.toml: life.max_cells = -5: must be an integer from 1 to",
        ),
        ("[life]\nmax_cells = true\n", "life.max_cells = true: must be an integer from 1 to"),
        ("[life]\nmax_cells = 1.5\n", "life.max_cells = 1.5: must be an integer"),
        ("[http]\nport = 70000\n", "http.port = 70000: must be an integer from 0 to 65_535"),
        ("[http]\nport = '80'\n", "http.port = '80': must be an integer"),
        ("[http]\nhost = ''\n", "http.host = '': must be a non-empty string"),
        ("[jobs]\nshutdown_grace_s = -1.0\n", "= -1.0: must be a number from 0.0 to 3600.0"),
        ("[jobs]\nshutdown_grace_s = nan\n", "jobs.shutdown_grace_s = nan: must be a number"),
        ("[life]\ndefault_engine = 'fast'\n", "= 'fast': must be one of 'auto', 'reference'"),
        (
            "[life]\nmax_cell = 5\n",
            "unknown key 'life.max_cell': allowed keys in [life] are max_cells, max_generations,"
            " max_threads, max_workers, default_engine (did you mean 'max_cells'?)",
        ),
        (
            "[lifee]\n",
            "unknown section [lifee]: allowed sections are http, storage, jobs, life, crypto,"
            " pipeline (did you mean 'life'?)",
        ),
        (
            "[crypto]\nciphers = 'x'\n",
            "unknown key 'crypto.ciphers': allowed keys in [crypto] are openssl, runner, cipher,"
            " digest, pbkdf2_iterations, allow_legacy, timeout_s, kill_grace_s, chunk_bytes,"
            " max_payload_bytes (did you mean 'cipher'?)",
        ),
        (
            "[crypto]\nrunner = 'threads'\n",
            "crypto.runner",
        ),
        ("life = 3\n", "config.toml: [life] must be a table of keys, got 3"),
        ("[life\n", "config.toml: invalid TOML: "),
    ],
)
def test_file_errors_name_key_value_and_what_is_allowed(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(write(tmp_path, toml), environ={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_toml_error_chains_tomllibs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "port = = 3\n"), environ={})
    assert isinstance(caught.value.__cause__, tomllib.TOMLDecodeError)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "FANOUT_LIFE__MAX_CELLS",
            "lots",
            "environment variable FANOUT_LIFE__MAX_CELLS: life.max_cells = 'lots': "
            "must be an integer from 1 to",
        ),
        ("FANOUT_LIFE__MAX_CELLS", "0", "life.max_cells = 0: must be an integer from 1 to"),
        ("FANOUT_HTTP__PORT", "true", "http.port = 'true': must be an integer"),
        ("FANOUT_JOBS__SHUTDOWN_GRACE_S", "soon", "= 'soon': must be a number from 0.0"),
        ("FANOUT_JOBS__SHUTDOWN_GRACE_S", "inf", "= inf: must be a number from 0.0"),
        (
            "FANOUT_LIFE__MAX_CELL",
            "5",
            "environment variable FANOUT_LIFE__MAX_CELL: unknown key 'life.max_cell'",
        ),
        ("FANOUT_LIFEE__MAX_CELLS", "5", "unknown section [lifee]: allowed sections are http"),
    ],
)
def test_environment_errors(name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ={name: text})


def test_override_errors_are_checked_like_the_file() -> None:
    with pytest.raises(ConfigError, match=re.escape("override: life.max_threads = 0: must be")):
        load_settings(environ={}, overrides={"life": {"max_threads": 0}})


def test_config_error_is_invalid_input_with_exit_code_2(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[x]\n"), environ={})
    assert caught.value.exit_code == 2


@dataclasses.dataclass(frozen=True, slots=True)
class _Listing:
    names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class _ListingRoot:
    listing: _Listing = dataclasses.field(default_factory=_Listing)


def test_a_field_of_an_unsupported_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"_Listing\.names: .* is not one of bool, int, float, str"):
        apply_layer(_ListingRoot, {}, {"listing": {"names": ["a"]}}, "demo.toml")


def test_engine_names_match_the_engines() -> None:
    from service.config import ENGINES
    from service.life.engines import ENGINE_NAMES

    assert ENGINES == ENGINE_NAMES


def test_destinations_table_from_toml_and_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[pipeline]\nallowed_sources = 'https://img.example.com/'\n"
        "[pipeline.destinations]\nthumbs = '/srv/thumbs'\ncdn = 'https://cdn.example.com/up/'\n",
    )
    from_file = load_settings(path, environ={}).pipeline
    assert from_file.allowed_sources == "https://img.example.com/"
    assert dict(from_file.destinations) == {
        "thumbs": "/srv/thumbs",
        "cdn": "https://cdn.example.com/up/",
    }
    environ = {
        "FANOUT_PIPELINE__DESTINATIONS__THUMBS": "/var/thumbs",  # replaces the file's entry
        "FANOUT_PIPELINE__DESTINATIONS__ARCHIVE": "/var/archive",  # adds one
        "FANOUT_PIPELINE__DESTINATIONS__CDN": "",  # removes one
    }
    layered = load_settings(path, environ=environ).pipeline.destinations
    assert dict(layered) == {"thumbs": "/var/thumbs", "archive": "/var/archive"}


def test_a_table_is_merged_over_earlier_layers_and_stays_frozen(tmp_path: Path) -> None:
    path = write(tmp_path, "[pipeline.destinations]\na = '/a'\n")
    overrides = {"pipeline": {"destinations": {"b": "/b"}}}
    settings = load_settings(path, environ={}, overrides=overrides)
    assert dict(settings.pipeline.destinations) == {"a": "/a", "b": "/b"}
    assert hash(settings) == hash(load_settings(path, environ={}, overrides=overrides))
    with pytest.raises(TypeError):
        settings.pipeline.destinations["c"] = "/c"  # type: ignore[index]  # read-only on purpose: the write must fail


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[pipeline]\ndestinations = 'x'\n",
            "config.toml: pipeline.destinations = 'x': must be a table of names to strings",
        ),
        (
            "[pipeline.destinations]\nthumbs = 3\n",
            "config.toml: pipeline.destinations.thumbs = 3: must be a non-empty string",
        ),
        (
            "[pipeline.destinations]\nthumbs = ''\n",
            "pipeline.destinations.thumbs = '': must be a non-empty string",
        ),
        (
            "[pipeline.destinations]\nThumbs = '/x'\n",
            "config.toml: pipeline.destinations: entry name 'Thumbs': use 1 to 64 lowercase "
            "letters, digits",
        ),
    ],
)
def test_table_errors_name_the_entry(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(write(tmp_path, toml), environ={})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "FANOUT_PIPELINE__DESTINATIONS",
            "environment variable FANOUT_PIPELINE__DESTINATIONS: pipeline.destinations is a "
            "table: set one entry at a time",
        ),
        ("FANOUT_PIPELINE__DESTINATIONS__A.B", "entry name 'a.b': use 1 to 64 lowercase"),
        (
            "FANOUT_LIFE__MAX_CELLS__X",
            "environment variable FANOUT_LIFE__MAX_CELLS__X: unknown key 'life.max_cells__x'",
        ),
    ],
)
def test_table_environment_errors(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(environ={name: "/somewhere"})


@dataclasses.dataclass(frozen=True, slots=True)
class _Untabled:
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class _UntabledRoot:
    listing: _Untabled = dataclasses.field(default_factory=_Untabled)


def test_a_mapping_needs_table_true_to_be_a_setting() -> None:
    with pytest.raises(TypeError, match=r"declared with setting\(\.\.\., table=True\)"):
        apply_layer(_UntabledRoot, {}, {"listing": {"names": {"a": "b"}}}, "demo.toml")
