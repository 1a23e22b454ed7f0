"""Runs inside a reused report kernel: what a report may change there, recorded once after warm-up and put
back before each report, so that every report starts as in a fresh kernel, only with the heavy modules
already imported.

Put back: the user namespace and execution count (IPython's reset), the working folder, the environment,
`sys.path`, stdout/stderr, warnings filters, the root logger, SIGINT/SIGTERM handlers, pandas options,
Plotly's default template, renderer and image settings, numpy's error and print options, the random
generators of `random` and numpy, and the module-level names of the `escalation` package (rebound names
and the contents of its dicts, lists and sets; its functools caches are emptied; modules of the package imported
by a report are unloaded).
`tests/test_kernel_reuse.py` runs a report that changes each of these, then one that finds none of it.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import random
import signal
import sys
import warnings

#: Modules every report imports; loading them once per worker is most of what a warm kernel saves. The package's
#: own are kept only if imported here: `escalation.validated` (which `load_tables` imports) keeps the hash of the
#: package's source and the library versions it computes once per kernel instead of once per report.
WARM_MODULES = ("pandas", "numpy", "plotly.graph_objects", "plotly.io", "plotly.subplots", "IPython.display",
                "escalation.charts", "escalation.data", "escalation.metrics", "escalation.report",
                "escalation.validated")
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_saved: dict = {}


def warm_up() -> None:
    """Import the modules every report needs and make the charts' template Plotly's default (each figure then
    starts with it), then record the state that `restore` puts back."""
    import importlib

    import plotly.io as pio

    for name in WARM_MODULES:
        importlib.import_module(name)
    pio.templates.default = importlib.import_module("escalation.charts").TEMPLATE
    _saved.clear()
    _saved.update(_current())
    gc.collect()
    gc.freeze()  # the collection each reset makes then looks only at what reports created


def restore(cwd: str) -> None:
    """Put the kernel back as `warm_up` left it and move into `cwd` (the notebook's folder)."""
    from IPython import get_ipython

    get_ipython().reset(new_session=True)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(_saved["environ"])
    sys.path[:] = _saved["path"]
    sys.stdout, sys.stderr = _saved["streams"]
    warnings.filters[:] = _saved["warnings"]
    warnings.showwarning = _saved["showwarning"]
    handlers, level = _saved["logging"]
    logging.getLogger().handlers[:] = handlers
    logging.getLogger().setLevel(level)
    for number, handler in _saved["signals"].items():
        signal.signal(number, handler)
    _restore_pandas(_saved["pandas"])
    _restore_plotly(_saved["plotly"])
    _restore_numpy(_saved["numpy"])
    random.setstate(_saved["random"])
    _restore_package(_saved["package"])


def _current() -> dict:
    root = logging.getLogger()
    return {
        "environ": dict(os.environ),
        "path": list(sys.path),
        "streams": (sys.stdout, sys.stderr),
        "warnings": list(warnings.filters),
        "showwarning": warnings.showwarning,
        "logging": (list(root.handlers), root.level),
        "signals": {number: signal.getsignal(number) for number in SIGNALS},
        "pandas": _pandas_options(),
        "plotly": _plotly_settings(),
        "numpy": _numpy_state(),
        "random": random.getstate(),
        "package": _package_state(),
    }


def _pandas_options() -> dict:
    from pandas._config import config  # the registry of options; pandas offers no public list of them

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {key: config.get_option(key) for key in config._registered_options
                if key not in config._deprecated_options}


def _restore_pandas(options: dict) -> None:
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in options.items():
            if pd.get_option(key) != value:
                pd.set_option(key, value)


def _plotly_settings() -> dict:
    import plotly.io as pio

    return {"template": pio.templates.default, "renderer": pio.renderers.default,
            "defaults": copy.copy(vars(pio.defaults))}


def _restore_plotly(settings: dict) -> None:
    import plotly.io as pio

    if pio.templates.default != settings["template"]:  # setting it validates a copy of the template (0.05 s)
        pio.templates.default = settings["template"]
    pio.renderers.default = settings["renderer"]
    vars(pio.defaults).clear()
    vars(pio.defaults).update(settings["defaults"])


def _numpy_state() -> dict:
    import numpy as np

    return {"err": np.geterr(), "print": np.get_printoptions(), "random": np.random.get_state()}


def _restore_numpy(state: dict) -> None:
    import numpy as np

    np.seterr(**state["err"])
    np.set_printoptions(**state["print"])
    np.random.set_state(state["random"])


def _package_modules() -> dict:
    return {name: module for name, module in sys.modules.items()
            if (name == "escalation" or name.startswith("escalation.")) and name != __name__}


def _package_state() -> dict:
    """Each package module's names, and a copy of the contents of each dict, list and set it holds."""
    state = {}
    for name, module in _package_modules().items():
        names = dict(vars(module))
        contents = {key: copy.copy(value) for key, value in names.items()
                    if type(value) in (dict, list, set) and not key.startswith("__")}
        state[name] = (names, contents)
    return state


def _restore_package(state: dict) -> None:
    for name, module in _package_modules().items():
        if name not in state:  # imported by a report: the next report imports it afresh
            del sys.modules[name]
            continue
        names, contents = state[name]
        namespace = vars(module)
        for key in set(namespace) - set(names):
            del namespace[key]
        namespace.update(names)
        for key, saved in contents.items():
            value = names[key]
            value.clear()
            if isinstance(value, list):
                value.extend(saved)
            else:
                value.update(saved)
        for value in names.values():  # functools caches: a result kept by one report holds its tables alive
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
