"""Build the optional C fast path of ``@keeper.tool`` and its recorder's twin.

toolkeeper/wrap/_fastpath.c (the sync wrapper's fast path) and
toolkeeper/monitor/_recorder.c (the recorder's two hot methods). Everything else about
the package is in pyproject.toml. Without a C compiler the build goes on without them
and the Python twins run instead, which behave the same (see
toolkeeper/wrap/decorate.py and toolkeeper/monitor/recorder.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "toolkeeper.wrap._fastpath",
            sources=["toolkeeper/wrap/_fastpath.c"],
            optional=True,
        ),
        Extension(
            "toolkeeper.monitor._recorder",
            sources=["toolkeeper/monitor/_recorder.c"],
            optional=True,
        ),
    ]
)
