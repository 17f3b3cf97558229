"""keyhole's `machines` component in wasmtime-py

The WIT world `machines` exports `machine` and imports nothing from the host (its component's one
keyhole import, `types`, carries types alone). Rust's std still links WASI's cli and io interfaces,
which the machines never call, so this host gives every imported function a stand-in that records
the call and fails it, and links whatever is left (resources) with `define_unknown_imports_as_traps`:
a replay that calls an import fails, and `Component.import_calls` says which one.
"""

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime.component import (
    Component as WasmComponent,
    ComponentInstanceType,
    FuncType,
    Linker,
    ResultType,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "keyhole:auth"


def component_path() -> Path:
    """Where `scripts/build-component` writes the `machines` component (or `$KEYHOLE_COMPONENT`)"""
    if "KEYHOLE_COMPONENT" in os.environ:
        return Path(os.environ["KEYHOLE_COMPONENT"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "wasm32-wasip2" / "wasm" / "keyhole_machines.wasm"


# wasmtime-py maps a `result` to its bare payload when the ok and err payloads have different Python
# classes. For `input.stored: result<option<string>, secret-error>` that picks the wrong case: the
# ok payload's `none` counts as `object`, so every value is taken for an ok and `err(secret-error)`
# cannot be passed at all (`ValueError: value not valid for this variant`, wasmtime 51.0.0). On the
# way out, the bare payload loses which case it was. This host therefore writes and reads every
# `result` as `Ok(value)` / `Err(value)`; the test `test_wasmtime_py_result_mapping` fails once
# wasmtime-py no longer needs this.
@dataclass
class Ok:
    value: Any = None


@dataclass
class Err:
    value: Any = None


def _result_to_c(self: ResultType, store: Any, val: Any, ptr: Any) -> None:
    if not isinstance(val, (Ok, Err)):
        raise TypeError(f"a WIT result is passed as Ok(value) or Err(value), not {val!r}")
    ty = self.ok if isinstance(val, Ok) else self.err
    raw = None
    if ty is not None:
        payload = ffi.wasmtime_component_val_t()
        ty.convert_to_c(store, val.value, ctypes.pointer(payload))
        raw = ffi.wasmtime_component_val_new(ctypes.byref(payload))
    elif val.value is not None:
        raise TypeError(f"this result case has no payload, got {val.value!r}")
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_RESULT
    ptr.contents.of.result.is_ok = isinstance(val, Ok)
    ptr.contents.of.result.val = raw


_bare_result_from_c = ResultType.convert_from_c


def _result_from_c(self: ResultType, c: Any) -> Any:
    is_ok = bool(c.of.result.is_ok)
    payload = _bare_result_from_c(self, c)
    return Ok(payload) if is_ok else Err(payload)


def _result_classes(self: ResultType, classes: Any) -> None:
    # What a value of this type is in Python, for a variant or option around it to tell its cases
    # apart
    classes.update((Ok, Err))


ResultType.convert_to_c = _result_to_c  # type: ignore[method-assign]
ResultType.convert_from_c = _result_from_c  # type: ignore[method-assign]
ResultType.add_classes = _result_classes  # type: ignore[method-assign]


class ImportCalled(Exception):
    """The component called an import while running a machine"""


class Component:
    """The compiled component and the linker that instantiates it without any host capability"""

    def __init__(self, path: Path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; build it with `scripts/build-component`")
        self.engine = wasmtime.Engine()
        self.wasm = WasmComponent.from_file(self.engine, str(path))
        self.import_calls: List[str] = []
        self.linker = Linker(self.engine)
        self.imported_functions = self._record_imported_functions()
        self.linker.define_unknown_imports_as_traps(self.wasm)

    def export(self, interface: str) -> Optional[str]:
        """The full name of the exported keyhole interface (`machine` -> `keyhole:auth/machine@0.2.0`),
        whatever the package version"""
        prefix = f"{PACKAGE}/{interface}@"
        names = [n for n in self.wasm.type.exports(self.engine) if n.startswith(prefix)]
        return names[0] if len(names) == 1 else None

    def _record_imported_functions(self) -> List[str]:
        names = []
        with self.linker.root() as root:
            for instance, item in self.wasm.type.imports(self.engine).items():
                ty = item.ty
                if not isinstance(ty, ComponentInstanceType):
                    continue
                functions = [
                    name
                    for name, f in ty.exports(self.engine).items()
                    if isinstance(f.ty, FuncType)
                ]
                if not functions:
                    continue
                with root.add_instance(instance) as linked:
                    for name in functions:
                        linked.add_func(name, self._recorder(f"{instance}#{name}"))
                        names.append(f"{instance}#{name}")
        return names

    def _recorder(self, name: str) -> Any:
        def called(_store: Any, *_args: Any) -> None:
            self.import_calls.append(name)
            raise ImportCalled(f"the component called the import {name}")

        return called

    def instantiate(self) -> "Instance":
        return Instance(self)


class Instance:
    """One instance of the component in its own store, as a plugin host would keep it"""

    def __init__(self, component: Component):
        self.store = wasmtime.Store(component.engine)
        self.instance = component.linker.instantiate(self.store, component.wasm)
        name = component.export("machine")
        machines = name and self.instance.get_export_index(self.store, name)
        if not machines:
            raise LookupError(f"the component exports no {PACKAGE}/machine interface")

        def func(name: str) -> Any:
            index = self.instance.get_export_index(self.store, name, machines)
            found = index and self.instance.get_func(self.store, index)
            if not found:
                raise LookupError(f"{PACKAGE}/machine has no {name}")
            return found

        self._new = func("[constructor]machine")
        self._handle_input = func("[method]machine.handle-input")
        self._poll_output = func("[method]machine.poll-output")
        self._step = func("[method]machine.step")

    def machine(self, kind: str, config: Any, now_ms: int, random: bytes) -> "Machine":
        """A machine of the transcript kind `kind` from its JSON `config` (see
        `wit.machine_config_to_wit`)"""
        from . import wit

        [(_, config_type), *_] = self._new.type(self.store).params
        typed = wit.machine_config_to_wit(config_type, kind, config)
        return Machine(self, self._new(self.store, typed, now_ms, random))


class Machine:
    """A `machine` resource: WIT values in, WIT values out"""

    def __init__(self, instance: Instance, resource: Any):
        self.instance = instance
        self.resource = resource

    def handle_input(self, now_ms: int, input: Any) -> None:
        i = self.instance
        i._handle_input(i.store, self.resource, now_ms, input)

    def poll_output(self) -> Any:
        i = self.instance
        return i._poll_output(i.store, self.resource)

    def step(self, now_ms: int, input: Any) -> List[Any]:
        i = self.instance
        return i._step(i.store, self.resource, now_ms, input)

    def drop(self) -> None:
        self.resource.drop(self.instance.store)
