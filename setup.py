"""Build the optional C fast path of ``@keeper.tool`` (toolkeeper/wrap/_fastpath.c).

Everything else about the package is in pyproject.toml. Without a C compiler the
build goes on without the extension and the wrapper runs its Python fast path,
which behaves the same (see toolkeeper/wrap/decorate.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "toolkeeper.wrap._fastpath",
            sources=["toolkeeper/wrap/_fastpath.c"],
            optional=True,
        )
    ]
)
