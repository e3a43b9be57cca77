"""The one part of the build pyproject.toml cannot say: the privacy scan's C extension
(router/privacy/_runs.c; runs.py says why it exists and falls back to a regex without it)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("router.privacy._runs", ["router/privacy/_runs.c"], extra_compile_args=["-O2"])
    ]
)
