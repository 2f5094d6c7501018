"""Check a fake host API against the typed stubs published for the host: every public method of a fake
class exists in the stub class of the same name, with the same parameter names in the same order."""
import ast
import importlib.util
import inspect
from pathlib import Path


def stub_signatures(package: str, module: str) -> dict[str, dict[str, list[str]]]:
    """{class or "" for module level: {function: [parameter names, self excluded]}} of a stub file."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise AssertionError(f"{package} is not installed (a dev dependency: pip install -e .[dev])")
    tree = ast.parse((Path(spec.submodule_search_locations[0]) / f"{module}.pyi").read_text())
    found: dict[str, dict[str, list[str]]] = {"": {}}

    def names(function):   # None: the stub takes *args/**kwargs, so any parameters match it
        if function.args.vararg or function.args.kwarg:
            return None
        arguments = [a.arg for a in function.args.posonlyargs + function.args.args]
        return arguments[1:] if arguments[:1] == ["self"] else arguments

    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found[node.name] = {f.name: names(f) for f in node.body if isinstance(f, ast.FunctionDef)}
        elif isinstance(node, ast.FunctionDef):
            found[""].setdefault(node.name, names(node))
    return found


def mismatches(fake_classes, stubs) -> list[str]:
    problems = []
    for fake in fake_classes:
        documented = stubs.get(fake.__name__)
        if documented is None:
            problems.append(f"{fake.__name__}: no such class in the stubs")
            continue
        for name, method in vars(fake).items():
            if name.startswith("_") or not callable(method):
                continue
            parameters = list(inspect.signature(method).parameters)[1:]
            if name not in documented:
                problems.append(f"{fake.__name__}.{name}: not in the stubs")
            elif documented[name] is not None and parameters != documented[name]:
                problems.append(f"{fake.__name__}.{name}{tuple(parameters)}: stubs say {tuple(documented[name])}")
    return problems
