"""The experiment file: schema, defaults, strict YAML loading, overrides and error messages.

Every default lives in the schema (schema.py). Unknown keys are errors that name the dotted
path and suggest the nearest valid key; all problems in a file are reported together, each
with its line and column (messages.py). Keys that only matter in some settings are in
scopes.py; reading a file and its overrides in loading.py.
"""

from nnctl.config.loading import (
    config_differences,
    dotted_items,
    load_config,
    parse_override,
    set_dotted,
    to_yaml,
    validate,
)
from nnctl.config.messages import schema_fields, suggest
from nnctl.config.schema import (
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ScheduleConfig,
    SchedulerConfig,
    SplitConfig,
    SweepConfig,
    TrainConfig,
)
from nnctl.config.scopes import SCOPES, check_against_data, scopes_of, unused_keys

__all__ = [
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "SCOPES",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "ScheduleConfig",
    "SchedulerConfig",
    "SplitConfig",
    "SweepConfig",
    "TrainConfig",
    "check_against_data",
    "config_differences",
    "dotted_items",
    "load_config",
    "parse_override",
    "schema_fields",
    "scopes_of",
    "set_dotted",
    "suggest",
    "to_yaml",
    "unused_keys",
    "validate",
]
