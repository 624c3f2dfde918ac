"""Builds promhub's one C extension; all metadata lives in pyproject.toml.

The extension (``promhub.ingest._rwscan``, the remote_write wire scanner) is optional:
promhub falls back to a pure-Python scanner when it is missing, so a failed compile
does not fail the install.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Build extensions, but warn instead of failing when there is no compiler."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, no Python headers
            print(f"warning: C extensions not built, using pure-Python fallbacks: {e}")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as e:
            print(f"warning: {ext.name} not built, using its pure-Python fallback: {e}")


setup(
    ext_modules=[
        Extension(
            "promhub.ingest._rwscan",
            ["promhub/ingest/_rwscan.c"],
            extra_compile_args=["-O2"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
