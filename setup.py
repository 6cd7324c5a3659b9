"""Build the optional C extension, ``toolkeeper._speedups``: the hot path's kernel.

One module (its definition in toolkeeper/_speedups.c): the sync wrapper's fast path
(toolkeeper/wrap/_fastpath.c), the recorder's two hot methods, the fold's
per-record passes and the store writer's rows (toolkeeper/monitor/_recorder.c), the
memory ledger's reservation and settle (toolkeeper/costs/_ledger.c), and a metered
stream's chunk count (toolkeeper/wrap/_chunks.c).
Everything else about the package is in pyproject.toml. Without a C compiler the build
goes on without it and the Python twins run instead, which behave the same (see
toolkeeper/wrap/decorate.py, toolkeeper/monitor/recorder.py, aggregates.py, buckets.py,
persist.py and sketch.py, toolkeeper/costs/ledger_memory.py and toolkeeper/wrap/streams.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "toolkeeper._speedups",
            sources=[
                "toolkeeper/_speedups.c",
                "toolkeeper/wrap/_fastpath.c",
                "toolkeeper/monitor/_recorder.c",
                "toolkeeper/costs/_ledger.c",
                "toolkeeper/wrap/_chunks.c",
            ],
            optional=True,
        ),
    ]
)
