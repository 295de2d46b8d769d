"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import time
from collections.abc import Iterable
from enum import Enum
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema

from .validation import spec_error

#: Core-schema types whose lax coercions are refused: `"volatile": 0` or `"sideEffects": "yes"` are
#: mistakes to report, not values to guess. (A strict float still takes an int: `maxDuration=60000`.)
_STRICT_TYPES = frozenset({"bool", "int", "float"})
M = TypeVar("M", bound=BaseModel)


def _make_strict(schema: Any) -> None:
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in _STRICT_TYPES:
            schema["strict"] = True
        for value in schema.values():
            _make_strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _make_strict(value)


class StrictScalars(BaseModel):
    """Booleans and numbers strict (no `0` for False, no `"5"` for 5, no `true` for 1.0; an int is a fine
    float): every model built from a client's input, polpo's own (WireModel) and OpenAI's request
    (chat/completions.py). A model fed from strings (query strings) turns `strict_scalars` off."""

    strict_scalars: ClassVar[bool] = True

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # the schema is plain data, edited once when the class is built: strictness costs nothing per call
        schema = handler(source)
        if cls.strict_scalars:
            _make_strict(schema)
        return schema


class WireModel(StrictScalars):
    """One model, three faces: Python attributes, the JSON of the API, the rows of the store.

    Non-finite floats are refused (`allow_inf_nan=False`): JSON has no NaN or Infinity, so a model
    holding one could be neither answered nor read back from the store. Booleans and numbers are
    strict (`StrictScalars`). A non-finite float that gets in anyway (`model_copy` does not validate) is
    serialised as `NaN`, never silently as `null`, so the store can tell and refuse it.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False,
                              ser_json_inf_nan="constants")
    #: Records the library builds from its own data (`TaskRecord`, `MissionRecord`) say False: a failure
    #: there is a bug, raised as pydantic's error; every other model is built from the user's input.
    user_built: ClassVar[bool] = True

    def __init__(self, /, **data: Any) -> None:
        """`Agent(name=..., ...)`, `Task(...)`, ...: invalid input raises SpecError naming each field in
        the user's terms, the one exception of every face (Python, mission files, HTTP)."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            if not type(self).user_built:
                raise
            raise spec_error(exc, model=type(self)) from None

    # Tell pydantic this __init__ only wraps its own (as pydantic's RootModel does): validation from data
    # (`model_validate`, nested models, store rows) then never calls it, so nested errors keep their full
    # paths and reading rows costs no Python call per model.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_wire(self, **kw: Any) -> dict[str, Any]:
        """The JSON the API speaks: camelCase, `None` dropped so payloads stay as small as the seeds'."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, **kw)

    def evolve(self, **changes: Any) -> Self:
        """`model_copy(update=changes)`, for the records the engine copies at every transition (five per
        task): pydantic's copy dispatches through `copy.copy` three times per model, which cost more than
        the transition's own work. Like `model_copy`, the changes are not validated: they come from the
        library. (A test holds it equal to `model_copy`.)"""
        if self.__pydantic_private__ is not None or self.__pydantic_extra__ is not None:
            return self.model_copy(update=changes)
        values = self.__dict__.copy()
        values.update(changes)
        given = self.__pydantic_fields_set__
        if type(given) is not SharedFields or not given.issuperset(changes):  # else the versions share it
            given = _with_fields(given, tuple(changes))
        return _assembled(self.__class__, values, given)

    def __setattr__(self, name: str, value: Any) -> None:
        """As pydantic's, which adds `name` to the given fields in place: a set shared with other records
        (`shared_fields`) is first replaced by this record's own copy."""
        given = getattr(self, "__pydantic_fields_set__", None)
        if type(given) is SharedFields:
            object.__setattr__(self, "__pydantic_fields_set__", set(given))
        super().__setattr__(name, value)

    @classmethod
    def extending(cls, base: WireModel, **fields: Any) -> Self:
        """`cls(**base.model_dump(), **fields)` for a model `cls` that extends `base`'s class (a
        `TaskRecord` made from its `Task`), without validating again what `base` was validated as: a
        saved mission builds one record per task, and validating every task a second time cost more than
        the rest of the save. Like `evolve`'s, the `fields` come from the library; the fields neither
        gives take their defaults. (A test holds it equal to the validated construction.)"""
        return cls._extended(base, fields, adopt=False)

    @classmethod
    def adopting(cls, base: WireModel, **fields: Any) -> Self:
        """`extending`, the record taking `base`'s lists and dicts as its own instead of copies: for a
        `base` nobody else holds or changes (a spec parsed for the one save that builds its record; a
        mission's thousands of tasks then cost one set of lists each, not two)."""
        return cls._extended(base, fields, adopt=True)

    @classmethod
    def _extended(cls, base: WireModel, fields: dict[str, Any], *, adopt: bool) -> Self:
        if base.__pydantic_private__ is not None or base.__pydantic_extra__ is not None:
            return cls(**base.model_dump(), **fields)
        given, defaults, asked = _extension(cls, type(base))
        values = _key_sharing_dict(cls)
        if adopt:
            values.update(base.__dict__)
        else:  # its own containers, as validation would have made: a caller editing its spec's lists
            # afterwards (`task.depends_on.append(...)`) must not edit the record
            for k, v in base.__dict__.items():
                values[k] = v.copy() if type(v) is list or type(v) is dict else v
        values.update(defaults)  # the record's own fields, as validation would fill them
        for name, info in asked:
            if name not in fields:
                if info.is_required():
                    raise TypeError(f"{cls.__name__}.extending: {name} is required")
                values[name] = info.get_default(call_default_factory=True, validated_data=values)
        values.update(fields)
        return _assembled(cls, values, _with_fields(given, tuple(fields)))


class SharedFields(set[str]):
    """A set of given fields held by many records at once (`shared_fields`): `WireModel.__setattr__`
    copies it before pydantic adds to it. Any other change in place (`record.model_fields_set.add(...)`)
    would change every record holding it, so it raises TypeError instead."""

    def __reduce__(self) -> tuple[type[set[str]], tuple[list[str]]]:
        """pydantic's own copies (`model_copy`, `copy`, `deepcopy`) and pickling make a plain set of it,
        the copy's own."""
        return set, (list(self),)

    def _refuse(self, *args: Any) -> Any:
        raise TypeError("this set of given fields is shared by other records: assign the field instead "
                        "(the record then gets its own set), or change a copy (set(record.model_fields_set))")

    add = discard = remove = clear = pop = update = _refuse
    difference_update = intersection_update = symmetric_difference_update = _refuse
    __ior__ = __iand__ = __isub__ = __ixor__ = _refuse


#: Content -> the one set of given fields records share: a run's ten thousand records have a handful of
#: distinct sets between them, where each record's own set cost ~1 KB and a collector visit.
_shared_fields: dict[frozenset[str], SharedFields] = {}
#: Past this many distinct sets (field names are a model's, so few), new ones are no longer kept.
_MAX_SHARED_FIELDS = 4096


def shared_fields(fields: set[str] | frozenset[str]) -> set[str]:
    """The shared set equal to `fields` (for records `evolve` and `extending` build)."""
    key = frozenset(fields)
    found = _shared_fields.get(key)
    if found is None:
        found = SharedFields(key)
        if len(_shared_fields) < _MAX_SHARED_FIELDS:
            _shared_fields[key] = found
    return found


def share_given_fields(models: Iterable[BaseModel]) -> None:
    """Make each model hold the shared set equal to its set of given fields (`shared_fields`), its own
    set freed: for models built in bulk that live a while (a mission's validated tasks, held while its
    records are built and saved), where a set per model cost more than the rest of its bookkeeping."""
    for model in models:
        object.__setattr__(model, "__pydantic_fields_set__", shared_fields(model.__pydantic_fields_set__))


#: (a shared set's id, names) -> (that set, the shared set with the names added): `evolve` adds the same
#: few names to the same few sets at every transition. Only shared sets are keys, and the entry holds
#: its key's set, so an id is never another set's.
_unions: dict[tuple[int, tuple[str, ...]], tuple[set[str], set[str]]] = {}


def _with_fields(given: set[str], names: tuple[str, ...]) -> set[str]:
    key = (id(given), names)
    known = _unions.get(key)
    if known is not None and known[0] is given:
        return known[1]
    found = shared_fields(given.union(names))
    if type(given) is SharedFields and len(_unions) < _MAX_SHARED_FIELDS:
        _unions[key] = (given, found)
    return found


def _assembled(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of `cls` holding `values` as they are (no validation: `evolve` and `extending` build
    from values already valid), the way pydantic's `model_construct` lays one out."""
    new = cls.__new__(cls)
    object.__setattr__(new, "__dict__", values)
    object.__setattr__(new, "__pydantic_fields_set__", fields_set)
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


#: Class -> (a dict of every field of the class, in order, all None; the instance it belongs to).
_key_tables: dict[type[BaseModel], tuple[dict[str, Any], object]] = {}


def _key_sharing_dict(cls: type[BaseModel]) -> dict[str, Any]:
    """An empty-valued dict of `cls`'s fields, in their order, whose copies share one key table (CPython's
    split dicts, PEP 412): filled by `update` with those keys only, a record's `__dict__` is a values
    array of ~300 bytes instead of a whole table of ~830, and `evolve`'s copies of it stay split.

    A dict that validation or `{...}` builds has its own table. The table comes from a private class,
    made here for `cls` alone, whose instance's attributes are set in field order: its `__dict__` is
    split on the interpreters that split instance dicts (CPython), whatever else the process did (a type's
    shared keys are given up for good once an attribute of any instance is deleted: pydantic's classes
    cannot promise that, this one can). On other interpreters it is a plain dict: the same values."""
    known = _key_tables.get(cls)
    if known is None:
        holder = type(f"_{cls.__name__}Keys", (), {})()
        for name in cls.model_fields:
            setattr(holder, name, None)
        known = _key_tables[cls] = (holder.__dict__, holder)  # (the holder kept: its dict may be its values)
    return known[0].copy()


def share_keys(models: Iterable[BaseModel]) -> None:
    """Lay each model's `__dict__` out as a key-sharing one (`_key_sharing_dict`), in place: for records
    read from the store (validation gives each a table of its own) that a run then holds for its life (a
    mission run again, resumed, re-run). The values, their order and the objects stay the same."""
    for model in models:
        values = _key_sharing_dict(type(model))
        values.update(model.__dict__)
        object.__setattr__(model, "__dict__", values)


#: Defaults `extending` may share between records: immutable values.
_SHAREABLE = (type(None), bool, int, float, str, Enum)
_Extension = tuple[set[str], dict[str, Any], list[tuple[str, Any]]]
_extensions: dict[tuple[type[BaseModel], type[BaseModel]], _Extension] = {}


def _extension(cls: type[BaseModel], base: type[BaseModel]) -> _Extension:
    """What `WireModel.extending` needs of a (record, spec) pair of classes, computed once: the spec's
    fields (all given); the record's own fields with their defaults, a placeholder for those whose
    default is asked at each call (a required field, a factory, a mutable default); and those."""
    known = _extensions.get((cls, base))
    if known is None:
        if not issubclass(cls, base):
            raise TypeError(f"{cls.__name__} does not extend {base.__name__}")
        defaults: dict[str, Any] = {}
        asked = []
        for name, info in cls.model_fields.items():
            if name in base.model_fields:
                continue
            shared = info.default_factory is None and isinstance(info.default, _SHAREABLE)
            defaults[name] = info.default if shared else None
            if not shared:
                asked.append((name, info))
        known = _extensions[(cls, base)] = (shared_fields(frozenset(base.model_fields)), defaults, asked)
    return known


#: What the API answers hides secrets written in models (an MCP server's literal env and header values,
#: `spec/mcp.py`); files and the store get them whole through `to_wire()` / `model_dump_json()`.
_REDACT = {"redact_secrets": True}


def to_jsonable(value: Any) -> Any:
    """Any library result as wire JSON (models camelCase without nulls, containers recursively): what
    the HTTP API answers and what the chat orchestrator's tools hand the model, secrets redacted."""
    if isinstance(value, WireModel):
        return value.to_wire(context=_REDACT)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True, context=_REDACT)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


_second: list[Any] = [None, ""]


def utcnow() -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, the timestamp of every payload. Called about ten times
    per task, so the formatted second is cached: strftime alone cost more than the SQLite insert."""
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = second
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"
